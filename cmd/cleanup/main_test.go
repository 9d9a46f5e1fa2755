package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/lambdaenv/lambdaenvtest"
)

func TestMain(m *testing.M) { lambdaenvtest.Main(m, main) }

// scheduledEventJSON is an EventBridge scheduled event, as a rule targeting
// the function directly would deliver it.
const scheduledEventJSON = `{
  "version": "0",
  "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
  "detail-type": "Scheduled Event",
  "source": "aws.events",
  "account": "123456789012",
  "time": "2024-03-01T12:00:00Z",
  "region": "us-east-1",
  "resources": ["arn:aws:events:us-east-1:123456789012:rule/orderflow-cleanup"],
  "detail": {}
}`

// env is a function's environment for one backend.
type env map[string]string

func createOrder(t *testing.T, ctx context.Context, s domain.Store, id, pi string, edit func(*domain.Order)) {
	t.Helper()
	o := domain.Order{ID: id, UserID: "u_1", SellerID: "s_1", ProductID: "p_1", Amount: 2000, Currency: "usd", StripePaymentIntentID: pi}
	if edit != nil {
		edit(&o)
	}
	o, err := domain.NewOrder(o, time.Now())
	if err != nil {
		t.Fatalf("new order: %v", err)
	}
	if err := s.Create(ctx, o); err != nil {
		t.Fatalf("create order %s: %v", id, err)
	}
}

func TestCleanupFunction(t *testing.T) {
	for _, b := range emulator.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard only
			defer cancel()
			e := env(b.Env(t))
			fn := lambdaenvtest.Handler(ctx, t, newHandler, e)
			store := emulator.OpenBackend(ctx, t, e).Store
			failedAgo := func(d time.Duration) func(*domain.Order) {
				return func(o *domain.Order) {
					at := time.Now().Add(-d)
					o.PaymentStatus, o.PaymentFailedAt = domain.PaymentFailed, &at
				}
			}
			createOrder(t, ctx, store, "ord_stale", "pi_stale", failedAgo(2*time.Hour))
			createOrder(t, ctx, store, "ord_fresh", "pi_fresh", failedAgo(10*time.Minute))
			createOrder(t, ctx, store, "ord_waiting", "pi_waiting", nil)

			// In order: each run sees what the earlier ones left.
			steps := []struct {
				name    string
				payload string
				want    string
				wantErr string
			}{
				{"empty payload uses CLEANUP_FAILED_PAYMENT_MINUTES", "", `{"cancelled":1}`, ""},
				{"empty object", "{}", `{"cancelled":0}`, ""},
				{"null", "null", `{"cancelled":0}`, ""},
				{"scheduled event", scheduledEventJSON, `{"cancelled":0}`, ""},
				{"zero minutes", `{"minutes": 0}`, "", "minutes 0"},
				{"not an object", `[5]`, "", "JSON object"},
				{"minutes override", `{"minutes": 5}`, `{"cancelled":1}`, ""},
			}
			for _, s := range steps {
				out, err := fn.Invoke(ctx, []byte(s.payload))
				switch {
				case s.wantErr != "":
					if err == nil || !strings.Contains(err.Error(), s.wantErr) {
						t.Errorf("%s: error = %v, want one mentioning %q", s.name, err, s.wantErr)
					}
				case err != nil:
					t.Errorf("%s: invoke: %v", s.name, err)
				case strings.TrimSpace(string(out)) != s.want:
					t.Errorf("%s: answered %s, want %s", s.name, out, s.want)
				}
			}
			want := map[string]domain.Status{"ord_stale": domain.StatusCancelled, "ord_fresh": domain.StatusCancelled, "ord_waiting": domain.StatusPending}
			for id, status := range want {
				o, err := store.Get(ctx, id)
				if err != nil {
					t.Fatalf("get %s: %v", id, err)
				}
				if o.Status != status {
					t.Errorf("%s status = %s, want %s", id, o.Status, status)
				}
			}
		})
	}
}

func TestCleanupConfigurationErrors(t *testing.T) {
	t.Parallel()
	lambdaenvtest.RefusesBadConfig(t, newHandler, []lambdaenvtest.BadConfig{
		{Name: "bad values", Env: env{"LOG_LEVEL": "loud", "CLEANUP_FAILED_PAYMENT_MINUTES": "0"}, Want: []string{"LOG_LEVEL", "CLEANUP_FAILED_PAYMENT_MINUTES"}},
		{Name: "not a number", Env: env{"ORDERFLOW_BACKEND": "sqlite", "CLEANUP_FAILED_PAYMENT_MINUTES": "an hour"}, Want: []string{"CLEANUP_FAILED_PAYMENT_MINUTES"}},
	})
}

func TestBadConfigurationFailsInitWithOneLine(t *testing.T) {
	t.Parallel()
	lambdaenvtest.InitFails(t, []string{"CLEANUP_FAILED_PAYMENT_MINUTES=-5"}, "CLEANUP_FAILED_PAYMENT_MINUTES")
}
