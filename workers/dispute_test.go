package workers_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/workers"
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

// A double charge refunded in Stripe, as the playbook says to: the refund
// failure and the dispute of the second intent carry no metadata.orderId and
// PaymentIntentIndex knows only the order's own intent, so they are found
// through the intents the order recorded as other payments (a filtered scan,
// logged) and get their other_payment entries instead of dead-lettering.
func TestMoneyOfADuplicatePaymentFindsItsOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_d", "", nil)
	b.createOrder(t, "ord_bystander", "pi_bystander", nil)
	// One after the other: the fixtures share a created time, so the first
	// applied is the order's payment.
	for _, m := range []domain.Message{
		message(t, "m1", fixture(t, "payment_intent.succeeded.json", "d1", "ord_d", "pi_d1"), ""),
		message(t, "m2", fixture(t, "payment_intent.succeeded.json", "d2", "ord_d", "pi_d2"), ""),
	} {
		if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{m}); len(failed) != 0 {
			t.Fatalf("failed: %v", failed)
		}
	}
	msgs := []domain.Message{}
	if o := b.order(t, "ord_d"); len(o.OtherPaymentIntentIDs) != 1 || o.OtherPaymentIntentIDs[0] != "pi_d2" {
		t.Fatalf("otherPaymentIntentIds = %v, want [pi_d2] after the double charge", o.OtherPaymentIntentIDs)
	}
	msgs = []domain.Message{
		message(t, "m3", fixture(t, "2025-03-31.basil/refund.failed.json", "d3", "ord_unused", "pi_d2"), ""),
		message(t, "m4", fixture(t, "2025-03-31.basil/charge.dispute.created.json", "d4", "ord_unused", "pi_d2"), ""),
	}
	for _, m := range msgs {
		ev, err := domain.ParseEvent(m.Body)
		if err != nil || ev.OrderID() != "" {
			t.Fatalf("test event %s: metadata.orderId %q, %v; want none", m.ID, ev.OrderID(), err)
		}
	}
	if failed := b.disp.ProcessBatch(b.ctx, msgs); len(failed) != 0 {
		t.Fatalf("failed: %v (the duplicate's money must find its order)", failed)
	}
	o := b.order(t, "ord_d")
	if got := timelineTypes(o); !slices.Equal(got, []string{domain.EntryPaymentSucceeded, domain.EntryDuplicatePayment, domain.EntryOtherPayment, domain.EntryOtherPayment}) {
		t.Fatalf("ord_d timeline = %v", got)
	}
	if o.Status != domain.StatusCompleted || o.PaymentStatus != domain.PaymentPaid || o.RequiresReview || o.StripePaymentIntentID != "pi_d1" {
		t.Fatalf("ord_d = %s/%s review %v intent %s: the other payment's money changed it", o.Status, o.PaymentStatus, o.RequiresReview, o.StripePaymentIntentID)
	}
	if n := b.logs.FilterMessageSnippet("[orders-index-warning]").Len(); n != 2 {
		t.Errorf("%d [orders-index-warning] lines, want 2 (one scan per event)", n)
	}
	if other := b.order(t, "ord_bystander"); len(other.Timeline) != 0 {
		t.Fatalf("another order changed: %v", timelineTypes(other))
	}
	// The scan reads the whole table, so it runs on a message's first
	// delivery only: a redelivered refund of a payment no order knows (not
	// the store's) waits without scanning again.
	unknown := message(t, "m5", fixture(t, "2025-03-31.basil/refund.failed.json", "d5", "ord_unused", "pi_not_ours"), "")
	unknown.ReceiveCount = 2
	if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{unknown}); !slices.Equal(failed, []string{"m5"}) {
		t.Fatalf("failed = %v, want [m5] (no order has pi_not_ours)", failed)
	}
	if n := b.logs.FilterMessageSnippet("[orders-index-warning]").Len(); n != 2 {
		t.Errorf("%d [orders-index-warning] lines after a redelivery, want still 2 (no second scan)", n)
	}
}

// SPEC §3: metadata.orderId, else the payment intent. An event whose
// metadata.orderId names no order waits (not yet), even when another order
// holds its intent: the checkout may not have written its order yet, and
// the other order may not be it (a reviewer's case).
func TestMetadataOrderIDOfNoOrderWaits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_holder", "pi_z", nil)
	m := message(t, "m1", fixture(t, "payment_intent.succeeded.json", "z", "ord_not_written_yet", "pi_z"), "")
	if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{m}); !slices.Equal(failed, []string{"m1"}) {
		t.Fatalf("failed = %v, want [m1] (not yet)", failed)
	}
	if o := b.order(t, "ord_holder"); len(o.Timeline) != 0 {
		t.Fatalf("ord_holder changed: %v", timelineTypes(o))
	}
	b.createOrder(t, "ord_not_written_yet", "", nil)
	if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{m}); len(failed) != 0 {
		t.Fatalf("failed = %v once the order is written", failed)
	}
	if o := b.order(t, "ord_not_written_yet"); o.Status != domain.StatusCompleted {
		t.Fatalf("ord_not_written_yet = %s, want completed", o.Status)
	}
}

// Two orders holding one intent (a checkout resumed with the same
// PaymentIntent for another order): the dispute goes to the order the intent
// paid, not to the first listed; linking the intent to a third order needs
// force.
func TestSharedIntentGoesToTheOrderItPaid(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_h1", "pi_h", nil) // the abandoned checkout, listed first
	b.createOrder(t, "ord_h2", "", nil)
	for _, m := range []domain.Message{
		message(t, "m1", fixture(t, "payment_intent.succeeded.json", "h", "ord_h2", "pi_h"), ""),
		message(t, "m2", fixture(t, "2025-03-31.basil/charge.dispute.created.json", "hd", "ord_unused", "pi_h"), ""),
	} {
		if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{m}); len(failed) != 0 {
			t.Fatalf("failed: %v", failed)
		}
	}
	if o := b.order(t, "ord_h2"); !o.RequiresReview || o.ReviewReason != domain.ReasonDisputeOpened {
		t.Fatalf("ord_h2 (paid by pi_h) review %v %q, want flagged dispute_opened", o.RequiresReview, o.ReviewReason)
	}
	if o := b.order(t, "ord_h1"); len(o.Timeline) != 0 {
		t.Fatalf("ord_h1 changed: %v", timelineTypes(o))
	}
	op := workers.Operator{Store: b.deps.Store}
	b.createOrder(t, "ord_h3", "", nil)
	if _, err := op.LinkPaymentIntent(b.ctx, "ord_h3", "pi_h", "adm_1", false); !errors.Is(err, domain.ErrAlreadyLinked) || !strings.Contains(err.Error(), "already the payment of order") {
		t.Fatalf("link another order's intent: %v, want ErrAlreadyLinked", err)
	}
	if _, err := op.LinkPaymentIntent(b.ctx, "ord_h3", "pi_h", "adm_1", true); err != nil {
		t.Fatalf("forced link: %v", err)
	}
}
