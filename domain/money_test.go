package domain_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// apply runs one Stripe event through the catalogue and the table, as the
// worker does, and fails the test on an unexpected error.
func apply(t *testing.T, o *domain.Order, ev domain.Event) bool {
	t.Helper()
	tr, err := domain.TriggerForEvent(ev)
	if err != nil {
		t.Fatalf("%s: %v", ev.ID, err)
	}
	changed, err := domain.Apply(o, domain.Change{Trigger: tr, Event: &ev, Actor: domain.ActorStripe, At: now})
	if errors.Is(err, domain.ErrAlreadyApplied) {
		return false
	}
	if err != nil {
		t.Fatalf("%s: %v", ev.ID, err)
	}
	return changed
}

func pendingOrder(amount int64) domain.Order {
	o, err := domain.NewOrder(domain.Order{ID: "ord_a", UserID: "usr_1", SellerID: "sel_1", ProductID: "prd_1", Amount: amount, Currency: "usd"}, now.Add(-3*time.Hour))
	if err != nil {
		panic(err)
	}
	return o
}

func i64(v int64) *int64 { return &v }
func yes(v bool) *bool   { return &v }

func pi(id, typ, intent string, created time.Time, amount, received int64) domain.Event {
	return domain.Event{ID: id, Type: typ, Created: created, Object: domain.EventObject{
		ID: intent, Object: "payment_intent", Amount: amount, AmountReceived: received, Currency: "usd",
		Metadata: map[string]string{"orderId": "ord_a"}, LatestCharge: domain.Expandable("ch_of_" + intent),
		LastPaymentError: &domain.PaymentError{Code: "card_declined", Message: "Your card was declined."},
	}}
}

func charge(id, intent string, created time.Time, amount, captured, refunded int64, full bool) domain.Event {
	return domain.Event{ID: id, Type: domain.EventChargeRefunded, Created: created, Object: domain.EventObject{
		ID: "ch_of_" + intent, Object: "charge", Amount: amount, AmountCaptured: i64(captured), Captured: yes(captured > 0),
		AmountRefunded: refunded, Refunded: full, Currency: "usd", PaymentIntent: domain.Expandable(intent),
		Metadata: map[string]string{"orderId": "ord_a"},
	}}
}

func refund(id, typ, intent string, created time.Time, status string) domain.Event {
	return domain.Event{ID: id, Type: typ, Created: created, Object: domain.EventObject{
		ID: "re_" + id, Object: "refund", Amount: 2000, Currency: "usd", Status: status, FailureReason: "lost_or_stolen_card",
		PaymentIntent: domain.Expandable(intent), Charge: domain.Expandable("ch_of_" + intent), Metadata: map[string]string{},
	}}
}

func dispute(id, typ, intent string, created time.Time, status string) domain.Event {
	return domain.Event{ID: id, Type: typ, Created: created, Object: domain.EventObject{
		// One dispute per payment, as in Stripe: its events share the id.
		ID: "du_of_" + intent, Object: "dispute", Amount: 2000, Currency: "usd", Status: status, Reason: "fraudulent",
		PaymentIntent: domain.Expandable(intent), Charge: domain.Expandable("ch_of_" + intent), Metadata: map[string]string{},
	}}
}

// Issue 8, input 1: a failure older than the one applied keeps its timeline
// entry but never moves paymentFailedAt back, so cleanup does not cancel.
func TestOlderPaymentFailureNeverMovesPaymentFailedAtBack(t *testing.T) {
	t.Parallel()
	o := pendingOrder(2000)
	recent, old := now.Add(-60*time.Second), now.Add(-2*time.Hour)
	apply(t, &o, pi("evt_fail_recent", domain.EventPaymentFailed, "pi_a", recent, 2000, 0))
	if !apply(t, &o, pi("evt_fail_old", domain.EventPaymentFailed, "pi_a", old, 2000, 0)) {
		t.Fatal("the older failure left no timeline entry")
	}
	if o.PaymentFailedAt == nil || !o.PaymentFailedAt.Equal(recent) {
		t.Fatalf("paymentFailedAt = %v, want %v", o.PaymentFailedAt, recent)
	}
	if last := o.Timeline[len(o.Timeline)-1]; last.Type != domain.EntryPaymentFailed || last.Meta["superseded"] != true {
		t.Fatalf("older failure's entry = %+v, want payment_failed marked superseded", last)
	}
	changed, err := domain.Apply(&o, domain.Change{Trigger: domain.TriggerCleanup, Actor: domain.ActorSystem, At: now, FailedBefore: now.Add(-60 * time.Minute)})
	if err != nil || changed || o.Status != domain.StatusPending {
		t.Fatalf("cleanup 60 min: changed=%v err=%v status=%s, want nothing cancelled", changed, err, o.Status)
	}
}

// Issue 8, input 2: a partial capture (API 2025-03-31.basil) refunded in
// full is a full refund, measured against amount_captured.
func TestFullRefundOfPartialCapture(t *testing.T) {
	t.Parallel()
	o := pendingOrder(1500)
	apply(t, &o, pi("evt_ok", domain.EventPaymentSucceeded, "pi_a", now.Add(-time.Hour), 2000, 1500))
	if o.Status != domain.StatusCompleted || o.RequiresReview {
		t.Fatalf("after success: %s review=%v (%s)", o.Status, o.RequiresReview, o.ReviewReason)
	}
	apply(t, &o, charge("evt_refund", "pi_a", now, 2000, 1500, 1500, true))
	if o.Status != domain.StatusRefunded || o.PaymentStatus != domain.PaymentRefunded {
		t.Fatalf("after the full refund of the captured 1500: %s/%s, want refunded/refunded", o.Status, o.PaymentStatus)
	}
	// The same numbers without refunded:true (older API versions) still
	// reach the captured amount.
	o2 := pendingOrder(1500)
	apply(t, &o2, pi("evt_ok", domain.EventPaymentSucceeded, "pi_a", now.Add(-time.Hour), 2000, 1500))
	apply(t, &o2, charge("evt_refund", "pi_a", now, 2000, 1500, 1500, false))
	if o2.Status != domain.StatusRefunded {
		t.Fatalf("amount_refunded = amount_captured without refunded:true: %s, want refunded", o2.Status)
	}
}

// Issue 8, input 3: a second intent succeeding is a double charge, and the
// refund of that second intent is another payment's money.
func TestDoubleChargeAndRefundOfTheOtherPayment(t *testing.T) {
	t.Parallel()
	o := pendingOrder(2000)
	apply(t, &o, pi("evt_pi1", domain.EventPaymentSucceeded, "pi_1", now.Add(-3*time.Minute), 2000, 2000))
	apply(t, &o, pi("evt_pi2", domain.EventPaymentSucceeded, "pi_2", now.Add(-2*time.Minute), 2000, 2000))
	apply(t, &o, charge("evt_refund_pi2", "pi_2", now, 2000, 2000, 2000, true))
	if o.Status != domain.StatusCompleted || o.PaymentStatus != domain.PaymentPaid {
		t.Fatalf("status %s/%s, want completed/paid", o.Status, o.PaymentStatus)
	}
	if o.StripePaymentIntentID != "pi_1" || o.StripeChargeID != "ch_of_pi_1" {
		t.Fatalf("payment fields = %s/%s, want pi_1/ch_of_pi_1", o.StripePaymentIntentID, o.StripeChargeID)
	}
	want := []string{domain.EntryPaymentSucceeded, domain.EntryDuplicatePayment, domain.EntryOtherPayment}
	if got := types(o); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("timeline = %v, want %v", got, want)
	}
	dup := o.Timeline[1].Meta
	if dup["paymentIntentId"] != "pi_2" || dup["chargeId"] != "ch_of_pi_2" || dup["amount"] != int64(2000) || dup["currency"] != "usd" {
		t.Fatalf("duplicate_payment meta = %v", dup)
	}
	other := o.Timeline[2].Meta
	if other["eventType"] != domain.EventChargeRefunded || other["paymentIntentId"] != "pi_2" || other["chargeId"] != "ch_of_pi_2" {
		t.Fatalf("other_payment meta = %v", other)
	}
}

// Issue 8, input 6: a failed refund puts a refunded order back to paid and
// flags it; a dispute blocks downloads until it is won.
func TestRefundFailureAndDisputes(t *testing.T) {
	t.Parallel()
	o := pendingOrder(2000)
	apply(t, &o, pi("evt_ok", domain.EventPaymentSucceeded, "pi_a", now.Add(-time.Hour), 2000, 2000))
	apply(t, &o, charge("evt_refund", "pi_a", now.Add(-50*time.Minute), 2000, 2000, 2000, true))
	apply(t, &o, refund("evt_refund_failed", domain.EventChargeRefundUpdated, "pi_a", now.Add(-40*time.Minute), "failed"))
	if o.Status != domain.StatusCompleted || o.PaymentStatus != domain.PaymentPaid || !o.RequiresReview || o.ReviewReason != domain.ReasonRefundFailed {
		t.Fatalf("after the refund failed: %s/%s review=%v %q", o.Status, o.PaymentStatus, o.RequiresReview, o.ReviewReason)
	}
	if _, err := domain.Apply(&o, domain.Change{Trigger: domain.TriggerClearReview, Actor: domain.Admin("adm_1"), At: now}); err != nil {
		t.Fatal(err)
	}
	apply(t, &o, dispute("evt_dispute", domain.EventDisputeCreated, "pi_a", now.Add(-30*time.Minute), "needs_response"))
	if !o.RequiresReview || o.ReviewReason != domain.ReasonDisputeOpened {
		t.Fatalf("dispute opened: review=%v %q, want dispute_opened", o.RequiresReview, o.ReviewReason)
	}
	meta := o.Timeline[len(o.Timeline)-2].Meta
	if meta["disputeId"] != "du_of_pi_a" || meta["reason"] != "fraudulent" || meta["amount"] != int64(2000) {
		t.Fatalf("dispute_opened meta = %v (the dispute id, not the charge)", meta)
	}
	apply(t, &o, dispute("evt_won", domain.EventDisputeClosed, "pi_a", now.Add(-20*time.Minute), "won"))
	if o.RequiresReview || o.Status != domain.StatusCompleted {
		t.Fatalf("dispute won: review=%v status=%s, want cleared and completed", o.RequiresReview, o.Status)
	}
	cleared := o.Timeline[len(o.Timeline)-1]
	if cleared.Type != domain.EntryReviewCleared || cleared.Actor != "stripe" {
		t.Fatalf("won dispute's clearing entry = %+v", cleared)
	}
}

// A dispute or refund of another payment never touches the order's fields.
func TestOtherPaymentsMoneyNeverChangesTheOrder(t *testing.T) {
	t.Parallel()
	for _, ev := range []domain.Event{
		charge("evt_x1", "pi_other", now, 2000, 2000, 2000, true),
		refund("evt_x2", domain.EventRefundFailed, "pi_other", now, "failed"),
		dispute("evt_x3", domain.EventDisputeCreated, "pi_other", now, "needs_response"),
		dispute("evt_x4", domain.EventDisputeClosed, "pi_other", now, "lost"),
	} {
		o := pendingOrder(2000)
		apply(t, &o, pi("evt_ok", domain.EventPaymentSucceeded, "pi_a", now.Add(-time.Hour), 2000, 2000))
		before := o.Clone()
		apply(t, &o, ev)
		if o.Status != before.Status || o.PaymentStatus != before.PaymentStatus || o.RequiresReview != before.RequiresReview ||
			o.StripeChargeID != before.StripeChargeID || o.StripePaymentIntentID != before.StripePaymentIntentID {
			t.Errorf("%s of another payment changed the order: %+v", ev.Type, o)
		}
		if last := o.Timeline[len(o.Timeline)-1]; last.Type != domain.EntryOtherPayment || last.Meta["eventType"] != ev.Type {
			t.Errorf("%s: last entry %+v, want other_payment", ev.Type, last)
		}
	}
}

// story is a payment's events in the order Stripe created them, and the
// status and paymentStatus that order leads to.
type story struct {
	name          string
	events        []domain.Event
	status        domain.Status
	paymentStatus domain.PaymentStatus
	// intent is the stripePaymentIntentId the order is written with: an
	// intent of the checkout that never succeeds, when set.
	intent string
	// review is the reason requiresReview must end with ("" = not flagged),
	// checked when reviewChecked.
	review        string
	reviewChecked bool
}

func stories() []story {
	at := func(m int) time.Time { return now.Add(time.Duration(m-60) * time.Minute) }
	return []story{
		{"failed, succeeded, partial refund, full refund", []domain.Event{
			pi("s1_failed", domain.EventPaymentFailed, "pi_a", at(1), 2000, 0),
			pi("s1_ok", domain.EventPaymentSucceeded, "pi_a", at(2), 2000, 2000),
			charge("s1_partial", "pi_a", at(3), 2000, 2000, 500, false),
			charge("s1_full", "pi_a", at(4), 2000, 2000, 2000, true),
		}, domain.StatusRefunded, domain.PaymentRefunded, "", "", false},
		{"succeeded, dispute opened, won", []domain.Event{
			pi("s2_ok", domain.EventPaymentSucceeded, "pi_a", at(1), 2000, 2000),
			dispute("s2_open", domain.EventDisputeCreated, "pi_a", at(2), "needs_response"),
			dispute("s2_won", domain.EventDisputeClosed, "pi_a", at(3), "won"),
		}, domain.StatusCompleted, domain.PaymentPaid, "", "", true},
		{"succeeded, dispute opened, lost", []domain.Event{
			pi("s3_ok", domain.EventPaymentSucceeded, "pi_a", at(1), 2000, 2000),
			dispute("s3_open", domain.EventDisputeCreated, "pi_a", at(2), "needs_response"),
			dispute("s3_lost", domain.EventDisputeClosed, "pi_a", at(3), "lost"),
		}, domain.StatusRefunded, domain.PaymentRefunded, "", domain.ReasonDisputeOpened, true},
		{"succeeded, refunded, refund failed", []domain.Event{
			pi("s4_ok", domain.EventPaymentSucceeded, "pi_a", at(1), 2000, 2000),
			charge("s4_refund", "pi_a", at(2), 2000, 2000, 2000, true),
			refund("s4_refund_failed", domain.EventRefundFailed, "pi_a", at(3), "failed"),
		}, domain.StatusCompleted, domain.PaymentPaid, "", domain.ReasonRefundFailed, true},
		{"two intents for one order", []domain.Event{
			pi("s5_pi1", domain.EventPaymentSucceeded, "pi_1", at(1), 2000, 2000),
			pi("s5_pi2", domain.EventPaymentSucceeded, "pi_2", at(2), 2000, 2000),
		}, domain.StatusCompleted, domain.PaymentPaid, "", "", false},
		{"refunded, refund failed, refunded again", []domain.Event{
			pi("s8_ok", domain.EventPaymentSucceeded, "pi_a", at(1), 2000, 2000),
			charge("s8_refund", "pi_a", at(2), 2000, 2000, 2000, true),
			refund("s8_refund_failed", domain.EventRefundFailed, "pi_a", at(3), "failed"),
			charge("s8_refund_again", "pi_a", at(4), 2000, 2000, 2000, true),
		}, domain.StatusRefunded, domain.PaymentRefunded, "", "", false},
		{"two intents, the second refunded", []domain.Event{
			pi("s6_pi1", domain.EventPaymentSucceeded, "pi_1", at(1), 2000, 2000),
			pi("s6_pi2", domain.EventPaymentSucceeded, "pi_2", at(2), 2000, 2000),
			charge("s6_refund_pi2", "pi_2", at(3), 2000, 2000, 2000, true),
		}, domain.StatusCompleted, domain.PaymentPaid, "", "", false},
		{"two intents, the first refunded", []domain.Event{
			pi("s7_pi1", domain.EventPaymentSucceeded, "pi_1", at(1), 2000, 2000),
			pi("s7_pi2", domain.EventPaymentSucceeded, "pi_2", at(2), 2000, 2000),
			charge("s7_refund_pi1", "pi_1", at(3), 2000, 2000, 2000, true),
		}, domain.StatusRefunded, domain.PaymentRefunded, "", "", false},
		// The order was written with the intent of a checkout that never
		// succeeds; another intent pays and its money moves. Whatever
		// arrives first, the order follows the intent that succeeded.
		{name: "written with an abandoned intent; another succeeds, is refunded", events: []domain.Event{
			pi("s9_ok", domain.EventPaymentSucceeded, "pi_2", at(1), 2000, 2000),
			charge("s9_refund", "pi_2", at(2), 2000, 2000, 2000, true),
		}, status: domain.StatusRefunded, paymentStatus: domain.PaymentRefunded, intent: "pi_0", reviewChecked: true},
		{name: "one intent fails; another succeeds, is refunded", events: []domain.Event{
			pi("s10_failed", domain.EventPaymentFailed, "pi_1", at(1), 2000, 0),
			pi("s10_ok", domain.EventPaymentSucceeded, "pi_2", at(2), 2000, 2000),
			charge("s10_refund", "pi_2", at(3), 2000, 2000, 2000, true),
		}, status: domain.StatusRefunded, paymentStatus: domain.PaymentRefunded},
		{name: "written with an abandoned intent; another succeeds, is refunded, the refund fails", events: []domain.Event{
			pi("s11_ok", domain.EventPaymentSucceeded, "pi_2", at(1), 2000, 2000),
			charge("s11_refund", "pi_2", at(2), 2000, 2000, 2000, true),
			refund("s11_refund_failed", domain.EventRefundFailed, "pi_2", at(3), "failed"),
		}, status: domain.StatusCompleted, paymentStatus: domain.PaymentPaid, intent: "pi_0", review: domain.ReasonRefundFailed, reviewChecked: true},
		{name: "written with an abandoned intent; another succeeds, its dispute is lost", events: []domain.Event{
			pi("s12_ok", domain.EventPaymentSucceeded, "pi_2", at(1), 2000, 2000),
			dispute("s12_open", domain.EventDisputeCreated, "pi_2", at(2), "needs_response"),
			dispute("s12_lost", domain.EventDisputeClosed, "pi_2", at(3), "lost"),
		}, status: domain.StatusRefunded, paymentStatus: domain.PaymentRefunded, intent: "pi_0"},
		{name: "two intents, the second disputed", events: []domain.Event{
			pi("s14_pi1", domain.EventPaymentSucceeded, "pi_1", at(1), 2000, 2000),
			pi("s14_pi2", domain.EventPaymentSucceeded, "pi_2", at(2), 2000, 2000),
			dispute("s14_open_pi2", domain.EventDisputeCreated, "pi_2", at(3), "needs_response"),
		}, status: domain.StatusCompleted, paymentStatus: domain.PaymentPaid, reviewChecked: true},
		{name: "two intents, the second refunded and the refund failed", events: []domain.Event{
			pi("s15_pi1", domain.EventPaymentSucceeded, "pi_1", at(1), 2000, 2000),
			pi("s15_pi2", domain.EventPaymentSucceeded, "pi_2", at(2), 2000, 2000),
			charge("s15_refund_pi2", "pi_2", at(3), 2000, 2000, 2000, true),
			refund("s15_failed_pi2", domain.EventRefundFailed, "pi_2", at(4), "failed"),
		}, status: domain.StatusCompleted, paymentStatus: domain.PaymentPaid, reviewChecked: true},
		// A second reviewer's stories: a failed second checkout whose intent
		// the order took first; money on the order's own intent recorded
		// while a double charge's success held the order; the same second.
		{name: "a second checkout fails, then succeeds, and is refunded", events: []domain.Event{
			pi("s16_ok_a", domain.EventPaymentSucceeded, "pi_a", at(1), 2000, 2000),
			pi("s16_failed_b", domain.EventPaymentFailed, "pi_b", at(2), 2000, 0),
			pi("s16_ok_b", domain.EventPaymentSucceeded, "pi_b", at(3), 2000, 2000),
			charge("s16_refund_b", "pi_b", at(4), 2000, 2000, 2000, true),
		}, status: domain.StatusCompleted, paymentStatus: domain.PaymentPaid, reviewChecked: true},
		{name: "written with its intent; a double charge; the own refund fails", events: []domain.Event{
			pi("s17_ok_a", domain.EventPaymentSucceeded, "pi_a", at(1), 2000, 2000),
			pi("s17_ok_b", domain.EventPaymentSucceeded, "pi_b", at(2), 2000, 2000),
			charge("s17_refund_a", "pi_a", at(10), 2000, 2000, 2000, true),
			refund("s17_failed_a", domain.EventRefundFailed, "pi_a", at(11), "failed"),
		}, status: domain.StatusCompleted, paymentStatus: domain.PaymentPaid, intent: "pi_a"},
		{name: "a refund and its failure in the same second", events: []domain.Event{
			pi("s18_ok", domain.EventPaymentSucceeded, "pi_a", at(1), 2000, 2000),
			charge("s18_refund", "pi_a", at(5), 2000, 2000, 2000, true),
			refund("s18_failed", domain.EventRefundFailed, "pi_a", at(5), "failed"),
		}, status: domain.StatusCompleted, paymentStatus: domain.PaymentPaid, review: domain.ReasonRefundFailed, reviewChecked: true},
		{name: "a double charge in one second, the smaller intent refunded", events: []domain.Event{
			pi("s19_ok_1", domain.EventPaymentSucceeded, "pi_1", at(1), 2000, 2000),
			pi("s19_ok_2", domain.EventPaymentSucceeded, "pi_2", at(1), 2000, 2000),
			charge("s19_refund_1", "pi_1", at(3), 2000, 2000, 2000, true),
		}, status: domain.StatusRefunded, paymentStatus: domain.PaymentRefunded},
		{name: "written with an abandoned intent; another succeeds, its dispute is won", events: []domain.Event{
			pi("s13_ok", domain.EventPaymentSucceeded, "pi_2", at(1), 2000, 2000),
			dispute("s13_open", domain.EventDisputeCreated, "pi_2", at(2), "needs_response"),
			dispute("s13_won", domain.EventDisputeClosed, "pi_2", at(3), "won"),
		}, status: domain.StatusCompleted, paymentStatus: domain.PaymentPaid, intent: "pi_0", reviewChecked: true},
	}
}

// permutations calls fn with every ordering of n indexes (Heap's algorithm).
func permutations(n int, fn func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var gen func(k int)
	gen = func(k int) {
		if k == 1 {
			fn(append([]int(nil), p...))
			return
		}
		for i := 0; i < k; i++ {
			gen(k - 1)
			if k%2 == 0 {
				p[i], p[k-1] = p[k-1], p[i]
			} else {
				p[0], p[k-1] = p[k-1], p[0]
			}
		}
	}
	gen(n)
}

// SPEC §3 "Newest wins": the final status and paymentStatus do not depend on
// the order in which one payment's events arrive, duplicates included. Every
// permutation of every story is tried.
func TestFinalStateIndependentOfArrivalOrder(t *testing.T) {
	t.Parallel()
	for _, s := range stories() {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			start := func() domain.Order {
				o := pendingOrder(2000)
				o.StripePaymentIntentID = s.intent
				return o
			}
			inOrder := start()
			for _, ev := range s.events {
				apply(t, &inOrder, ev)
			}
			if inOrder.Status != s.status || inOrder.PaymentStatus != s.paymentStatus {
				t.Fatalf("in Stripe's order: %s/%s, want %s/%s", inOrder.Status, inOrder.PaymentStatus, s.status, s.paymentStatus)
			}
			permutations(len(s.events), func(p []int) {
				o := start()
				for _, i := range p {
					apply(t, &o, s.events[i])
					apply(t, &o, s.events[p[0]]) // a duplicate delivery changes nothing
				}
				if o.Status != s.status || o.PaymentStatus != s.paymentStatus {
					t.Errorf("arrival order %v: %s/%s, want %s/%s; timeline %v", p, o.Status, o.PaymentStatus, s.status, s.paymentStatus, types(o))
				}
				if s.reviewChecked && (o.RequiresReview != (s.review != "") || o.ReviewReason != s.review) {
					t.Errorf("arrival order %v: requiresReview %v (%q), want reason %q; timeline %v", p, o.RequiresReview, o.ReviewReason, s.review, types(o))
				}
				seen := map[string]string{}
				for _, e := range o.Timeline {
					// One event may write a pair (an entry and its review flag),
					// never the same entry type twice.
					if prev, ok := seen[e.EventID+e.Type]; ok {
						t.Errorf("arrival order %v: event %s applied twice (%s)", p, e.EventID, prev)
					}
					seen[e.EventID+e.Type] = e.Type
				}
			})
		})
	}
}

// A charge.refunded older than an applied failure of that refund does not
// refund again (SPEC §3 "Newest wins").
func TestStaleRefundAfterItsFailureDoesNotRefund(t *testing.T) {
	t.Parallel()
	o := pendingOrder(2000)
	apply(t, &o, pi("evt_ok", domain.EventPaymentSucceeded, "pi_a", now.Add(-time.Hour), 2000, 2000))
	apply(t, &o, refund("evt_failed", domain.EventRefundFailed, "pi_a", now.Add(-10*time.Minute), "failed"))
	apply(t, &o, charge("evt_refund", "pi_a", now.Add(-20*time.Minute), 2000, 2000, 2000, true))
	if o.Status != domain.StatusCompleted {
		t.Fatalf("status %s, want completed", o.Status)
	}
	if e := o.Timeline[len(o.Timeline)-2]; e.Type != domain.EntryRefundFull || e.Meta["superseded"] != true {
		t.Fatalf("stale refund's entry = %+v, want refund_full marked superseded", e)
	}
	// As in Stripe's order (refunded, then the failure reinstates it), the
	// failed refund is flagged for a person to look at.
	if !o.RequiresReview || o.ReviewReason != domain.ReasonRefundFailed {
		t.Fatalf("requiresReview %v (%q), want refund_failed", o.RequiresReview, o.ReviewReason)
	}
	// A new refund after the failure does refund.
	apply(t, &o, charge("evt_refund_again", "pi_a", now, 2000, 2000, 2000, true))
	if o.Status != domain.StatusRefunded {
		t.Fatalf("status %s after a newer refund, want refunded", o.Status)
	}
}

func TestReleasedAuthorizationChangesNoStatus(t *testing.T) {
	t.Parallel()
	o := pendingOrder(2000)
	ev := charge("evt_released", "pi_a", now, 2000, 0, 2000, true)
	apply(t, &o, ev)
	if o.Status != domain.StatusPending || types(o)[0] != domain.EntryAuthorizationReleased {
		t.Fatalf("status %s timeline %v, want pending with authorization_released", o.Status, types(o))
	}
}

func TestLinkPaymentIntent(t *testing.T) {
	t.Parallel()
	link := func(o *domain.Order, pi string, force bool) (bool, error) {
		return domain.Apply(o, domain.Change{Trigger: domain.TriggerLinkPaymentIntent, Actor: domain.Admin("adm_1"), At: now, PaymentIntentID: pi, Force: force})
	}
	o := pendingOrder(2000)
	if _, err := link(&o, "ch_123", false); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("a charge id: err = %v, want ErrInvalid", err)
	}
	if changed, err := link(&o, "pi_1", false); !changed || err != nil || o.StripePaymentIntentID != "pi_1" {
		t.Fatalf("first link: %v %v %q", changed, err, o.StripePaymentIntentID)
	}
	if e := o.Timeline[0]; e.Type != domain.EntryPaymentIntentLinked || e.ActorID != "adm_1" || e.Meta["previous"] != "" || e.Meta["paymentIntentId"] != "pi_1" {
		t.Fatalf("entry %+v", e)
	}
	if changed, err := link(&o, "pi_1", false); changed || err != nil {
		t.Fatalf("same intent again: %v %v, want no change", changed, err)
	}
	if _, err := link(&o, "pi_2", false); !errors.Is(err, domain.ErrAlreadyLinked) {
		t.Fatalf("another intent without force: %v, want ErrAlreadyLinked", err)
	}
	if changed, err := link(&o, "pi_2", true); !changed || err != nil || o.Timeline[1].Meta["previous"] != "pi_1" {
		t.Fatalf("forced: %v %v %+v", changed, err, o.Timeline)
	}
}

func TestRefundGuardAndIdempotencyKey(t *testing.T) {
	t.Parallel()
	o := pendingOrder(2000)
	if err := domain.RefundGuard(o); !errors.Is(err, domain.ErrNotPaid) {
		t.Fatalf("pending: %v, want ErrNotPaid", err)
	}
	apply(t, &o, pi("evt_ok", domain.EventPaymentSucceeded, "pi_a", now.Add(-time.Hour), 2000, 2000))
	if err := domain.RefundGuard(o); err != nil {
		t.Fatalf("paid: %v", err)
	}
	if k := domain.RefundIdempotencyKey(o); k != "orderflow-refund-ord_a-0" {
		t.Fatalf("key = %s", k)
	}
	req := domain.Change{Trigger: domain.TriggerRequestRefund, Actor: domain.Admin("adm_1"), At: now, Refund: &domain.RefundRequest{RefundID: "re_1", Amount: 2000}}
	if _, err := domain.Apply(&o, req); err != nil {
		t.Fatal(err)
	}
	if _, err := domain.Apply(&o, req); !errors.Is(err, domain.ErrAlreadyRefunding) {
		t.Fatalf("second request: %v, want ErrAlreadyRefunding", err)
	}
	failed := refund("evt_failed", domain.EventRefundFailed, "pi_a", now.Add(-time.Minute), "failed")
	failed.Object.ID = "re_1" // the refund orderflow requested
	apply(t, &o, failed)
	if err := domain.RefundGuard(o); err != nil {
		t.Fatalf("after refund_failed: %v", err)
	}
	if k := domain.RefundIdempotencyKey(o); k != "orderflow-refund-ord_a-1" {
		t.Fatalf("key after a failure = %s", k)
	}
}

func types(o domain.Order) []string {
	var out []string
	for _, e := range o.Timeline {
		out = append(out, e.Type)
	}
	return out
}

// A late failure event about an older refund does not open the way to a
// second refund while a newer one is pending, and one refund's several
// failure events count once in the idempotency key.
func TestRefundGuardCountsEachRefundOnce(t *testing.T) {
	t.Parallel()
	o := pendingOrder(2000)
	apply(t, &o, pi("evt_ok", domain.EventPaymentSucceeded, "pi_a", now.Add(-time.Hour), 2000, 2000))
	request := func(id string) error {
		_, err := domain.Apply(&o, domain.Change{Trigger: domain.TriggerRequestRefund, Actor: domain.Admin("adm_1"), At: now,
			Refund: &domain.RefundRequest{RefundID: id, Amount: 2000}})
		return err
	}
	failure := func(evt, typ, refundID string, minutes int) domain.Event {
		ev := refund(evt, typ, "pi_a", now.Add(time.Duration(minutes)*time.Minute), "failed")
		ev.Object.ID = refundID
		return ev
	}
	if err := request("re_1"); err != nil {
		t.Fatal(err)
	}
	apply(t, &o, failure("evt_f1", domain.EventRefundFailed, "re_1", -30))
	if k := domain.RefundIdempotencyKey(o); k != "orderflow-refund-ord_a-1" {
		t.Fatalf("key after one failed refund = %s", k)
	}
	if err := request("re_2"); err != nil {
		t.Fatalf("after re_1 failed: %v", err)
	}
	apply(t, &o, failure("evt_f1_again", domain.EventRefundUpdated, "re_1", -29))
	apply(t, &o, failure("evt_f1_third", domain.EventChargeRefundUpdated, "re_1", -28))
	if err := domain.RefundGuard(o); !errors.Is(err, domain.ErrAlreadyRefunding) {
		t.Fatalf("re_2 pending, late failures of re_1: %v, want ErrAlreadyRefunding", err)
	}
	if k := domain.RefundIdempotencyKey(o); k != "orderflow-refund-ord_a-1" {
		t.Fatalf("key counts one refund's failures more than once: %s", k)
	}
	apply(t, &o, failure("evt_f2", domain.EventRefundFailed, "re_2", -10))
	if err := domain.RefundGuard(o); err != nil {
		t.Fatalf("after re_2 failed too: %v", err)
	}
	if k := domain.RefundIdempotencyKey(o); k != "orderflow-refund-ord_a-2" {
		t.Fatalf("key after two failed refunds = %s", k)
	}
}

// An operator's word is not undone when the order's payment changes: a
// refund marked by hand stays, and a flag an operator cleared is not raised
// again by the recomputed money.
func TestPaymentSwitchKeepsOperatorDecisions(t *testing.T) {
	t.Parallel()
	o := pendingOrder(2000)
	apply(t, &o, pi("op_ok_2", domain.EventPaymentSucceeded, "pi_2", now.Add(-50*time.Minute), 2000, 2000))
	if _, err := domain.Apply(&o, domain.Change{Trigger: domain.TriggerMarkRefunded, Actor: domain.Admin("adm_1"), At: now}); err != nil {
		t.Fatal(err)
	}
	// The order's real payment, older, arrives last and takes over.
	apply(t, &o, pi("op_ok_1", domain.EventPaymentSucceeded, "pi_1", now.Add(-55*time.Minute), 2000, 2000))
	if o.StripePaymentIntentID != "pi_1" || o.Status != domain.StatusRefunded {
		t.Fatalf("after the older payment took over: %s/%s on %s, want the manual refund kept", o.Status, o.PaymentStatus, o.StripePaymentIntentID)
	}

	o = pendingOrder(2000)
	apply(t, &o, dispute("op_open_1", domain.EventDisputeCreated, "pi_1", now.Add(-40*time.Minute), "needs_response"))
	if _, err := domain.Apply(&o, domain.Change{Trigger: domain.TriggerClearReview, Actor: domain.Admin("adm_1"), At: now}); err != nil {
		t.Fatal(err)
	}
	apply(t, &o, pi("op_ok_2b", domain.EventPaymentSucceeded, "pi_2", now.Add(-50*time.Minute), 2000, 2000))
	apply(t, &o, pi("op_ok_1b", domain.EventPaymentSucceeded, "pi_1", now.Add(-55*time.Minute), 2000, 2000))
	if o.StripePaymentIntentID != "pi_1" || o.RequiresReview {
		t.Fatalf("after the switch back: %s review %v (%q), want pi_1 and the operator's clearing kept", o.StripePaymentIntentID, o.RequiresReview, o.ReviewReason)
	}
}

// A third reviewer's cases: an order imported as paid (completed with its
// intent, no recorded success) is never taken over by a later double
// charge, whatever its refund or dispute did first; and a payment that
// takes over runs its own fraud check.
func TestImportedPaidOrderKeepsItsPayment(t *testing.T) {
	t.Parallel()
	imported := func() domain.Order {
		o := pendingOrder(2000)
		o.Status, o.PaymentStatus, o.StripePaymentIntentID, o.StripeChargeID = domain.StatusCompleted, domain.PaymentPaid, "pi_1", "ch_of_pi_1"
		return o
	}
	o := imported()
	apply(t, &o, charge("imp_refund_1", "pi_1", now.Add(-50*time.Minute), 2000, 2000, 2000, true))
	apply(t, &o, pi("imp_ok_2", domain.EventPaymentSucceeded, "pi_2", now.Add(-40*time.Minute), 2000, 2000))
	if o.Status != domain.StatusRefunded || o.StripePaymentIntentID != "pi_1" || types(o)[len(o.Timeline)-1] != domain.EntryDuplicatePayment {
		t.Fatalf("refunded import, then a double charge: %s on %s, timeline %v; want refunded on pi_1 with duplicate_payment", o.Status, o.StripePaymentIntentID, types(o))
	}

	o = imported()
	apply(t, &o, dispute("imp_open_1", domain.EventDisputeCreated, "pi_1", now.Add(-50*time.Minute), "needs_response"))
	apply(t, &o, pi("imp_ok_2b", domain.EventPaymentSucceeded, "pi_2", now.Add(-40*time.Minute), 2000, 2000))
	apply(t, &o, dispute("imp_lost_1", domain.EventDisputeClosed, "pi_1", now.Add(-30*time.Minute), "lost"))
	if o.Status != domain.StatusRefunded || o.StripePaymentIntentID != "pi_1" {
		t.Fatalf("disputed import, a double charge, the dispute lost: %s on %s; want refunded on pi_1", o.Status, o.StripePaymentIntentID)
	}

	o = pendingOrder(2000)
	apply(t, &o, pi("fr_ok_2", domain.EventPaymentSucceeded, "pi_2", now.Add(-40*time.Minute), 2000, 2000))
	apply(t, &o, pi("fr_ok_1", domain.EventPaymentSucceeded, "pi_1", now.Add(-50*time.Minute), 2000, 1500)) // older, underpaid
	if o.StripePaymentIntentID != "pi_1" || !o.RequiresReview || o.ReviewReason != domain.ReasonAmountMismatch {
		t.Fatalf("an older underpaid payment taking over: %s review %v %q; want pi_1 flagged amount_mismatch", o.StripePaymentIntentID, o.RequiresReview, o.ReviewReason)
	}
}
