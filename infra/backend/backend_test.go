package backend_test

import (
	"context"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
)

func TestAWSBackendNamesEveryMissingSetting(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.Backend = config.BackendAWS
	cfg.OrdersTable = ""
	_, err := backend.Open(context.Background(), cfg, backend.All, nil)
	if err == nil {
		t.Fatal("opened the AWS backend without its settings")
	}
	for _, want := range []string{"ORDERS_TABLE", "EVENTS_QUEUE_URL", "DLQ_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

func TestOnlyRequestedAWSPartsAreRequired(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.Backend = config.BackendAWS
	_, err := backend.Open(context.Background(), cfg, backend.Parts{Events: true}, nil)
	if err == nil || strings.Contains(err.Error(), "DLQ_URL") || !strings.Contains(err.Error(), "EVENTS_QUEUE_URL") {
		t.Fatalf("events-only open: err = %v, want only EVENTS_QUEUE_URL named", err)
	}
}
