package workers_test

import (
	"slices"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/metrics"
	"github.com/orderflow/orderflow/workers"
)

// Every catalogued Stripe type has a handler, and every metric the table's
// effects count is one orderflow declares (template.yaml alarms use them).
func TestEveryCataloguedTypeHasAHandlerAndKnownMetrics(t *testing.T) {
	t.Parallel()
	handlers := workers.StandardHandlers(workers.Deps{})
	for _, et := range domain.Catalogue {
		if handlers[et.Type] == nil {
			t.Errorf("no handler for catalogued type %s", et.Type)
		}
	}
	if handlers[domain.EventCleanupRun] == nil {
		t.Error("no handler for cleanup.run")
	}
	if want := len(domain.Catalogue) + 1; len(handlers) != want {
		t.Errorf("%d handlers, want %d (the catalogue and cleanup.run)", len(handlers), want)
	}
	for effect, name := range domain.EffectMetrics {
		if !slices.Contains(metrics.Names, name) {
			t.Errorf("effect %s counts %q, which metrics.Names does not declare", effect, name)
		}
	}
}
