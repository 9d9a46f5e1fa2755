//go:build !nosqlite

package backend_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
)

func TestSQLiteBackendOpensEveryPart(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.DBPath = filepath.Join(t.TempDir(), "of.db")
	be, err := backend.Open(context.Background(), cfg, backend.All, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if be.Store == nil || be.Events == nil || be.DLQ == nil || be.Secrets == nil {
		t.Fatalf("missing parts: %+v", be)
	}
}

func TestSecretsFromEnvironment(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.DBPath = filepath.Join(t.TempDir(), "of.db")
	cfg.StripeWebhookSecret = "whsec_a,whsec_b"
	be, err := backend.Open(context.Background(), cfg, backend.Parts{Store: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	got, err := be.Secrets.WebhookSecrets(context.Background())
	if err != nil || len(got) != 2 || got[0] != "whsec_a" || got[1] != "whsec_b" {
		t.Fatalf("WebhookSecrets = %v, %v", got, err)
	}
}
