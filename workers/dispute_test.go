package workers_test

import (
	"testing"

	"github.com/orderflow/orderflow/domain"
)

// SPEC §3: a dispute of a charge made without a payment intent is found
// through its charge, matched against stripeChargeId by a filtered scan
// that logs [orders-index-warning] (the table has no index on it).
func TestDisputeWithoutIntentIsFoundByItsCharge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_ch", "", func(o *domain.Order) { o.StripeChargeID = "ch_disp" })
	b.createOrder(t, "ord_other", "", func(o *domain.Order) { o.StripeChargeID = "ch_other" })
	// The fixture's charge becomes ch_disp (ch_<tag>); its intent is removed.
	body := fixture(t, "2022-11-15/charge.dispute.created.json", "disp", "ord_unused", "pi_unused",
		`"payment_intent": "pi_unused"`, `"payment_intent": null`)
	ev, err := domain.ParseEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.PaymentIntentID() != "" || ev.ChargeID() != "ch_disp" {
		t.Fatalf("test event: intent %q charge %q, want none and ch_disp", ev.PaymentIntentID(), ev.ChargeID())
	}
	if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{message(t, "m1", body, "")}); len(failed) != 0 {
		t.Fatalf("failed: %v", failed)
	}
	o := b.order(t, "ord_ch")
	if !o.RequiresReview || o.ReviewReason != domain.ReasonDisputeOpened {
		t.Fatalf("ord_ch: review %v %q, want flagged dispute_opened", o.RequiresReview, o.ReviewReason)
	}
	if other := b.order(t, "ord_other"); len(other.Timeline) != 0 {
		t.Fatalf("another order changed: %v", timelineTypes(other))
	}
	if n := b.logs.FilterMessageSnippet("[orders-index-warning]").Len(); n != 1 {
		t.Fatalf("%d [orders-index-warning] lines, want 1", n)
	}
}
