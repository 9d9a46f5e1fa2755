package workers_test

import (
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/workers"
)

func TestBackfillPaymentIntents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	succeeded := func(pi string) func(*domain.Order) {
		return func(o *domain.Order) {
			o.Status, o.PaymentStatus = domain.StatusCompleted, domain.PaymentPaid
			o.Timeline = []domain.TimelineEntry{
				{Type: domain.EntryPaymentFailed, At: epoch, Actor: "stripe", ActorType: "system", EventID: "evt_f_" + pi},
				{Type: domain.EntryPaymentSucceeded, At: epoch, Actor: "stripe", ActorType: "system", EventID: "evt_s_" + pi,
					Meta: map[string]any{"paymentIntentId": pi, "chargeId": "ch_1"}},
			}
		}
	}
	b.createOrder(t, "ord_fill1", "", succeeded("pi_fill1"))
	b.createOrder(t, "ord_fill2", "", succeeded("pi_fill2"))
	b.createOrder(t, "ord_has", "pi_has", succeeded("pi_other"))
	b.createOrder(t, "ord_none", "", nil)

	var calls []int
	dry, err := workers.Backfill(b.ctx, b.store, b.clock, true, func(n int) { calls = append(calls, n) })
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	want := workers.BackfillSummary{Scanned: 4, Updated: 2, Skipped: 1}
	if dry != want || len(calls) != 4 || calls[3] != 4 {
		t.Fatalf("dry run = %+v, progress %v; want %+v and 4 calls", dry, calls, want)
	}
	if o := b.order(t, "ord_fill1"); o.StripePaymentIntentID != "" || o.Version != 1 {
		t.Fatalf("dry run wrote: %+v", o)
	}

	got, err := workers.Backfill(b.ctx, b.store, b.clock, false, nil)
	if err != nil || got != want {
		t.Fatalf("run = %+v, %v; want %+v", got, err, want)
	}
	for id, pi := range map[string]string{"ord_fill1": "pi_fill1", "ord_fill2": "pi_fill2", "ord_has": "pi_has"} {
		o := b.order(t, id)
		if o.StripePaymentIntentID != pi {
			t.Errorf("%s: stripePaymentIntentId = %q, want %q", id, o.StripePaymentIntentID, pi)
		}
		if len(o.Timeline) != 2 {
			t.Errorf("%s: timeline grew to %d entries", id, len(o.Timeline))
		}
	}
	// The index now answers for the backfilled order.
	found := ""
	if err := b.store.List(b.ctx, domain.Filter{PaymentIntentID: "pi_fill2"}, func(o domain.Order) error { found = o.ID; return nil }); err != nil {
		t.Fatal(err)
	}
	if found != "ord_fill2" {
		t.Fatalf("PaymentIntentIndex found %q", found)
	}
	again, err := workers.Backfill(b.ctx, b.store, b.clock, false, nil)
	if err != nil || again != (workers.BackfillSummary{Scanned: 4, Updated: 0, Skipped: 1}) {
		t.Fatalf("second run = %+v, %v", again, err)
	}
}
