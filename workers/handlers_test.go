package workers_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/metrics"
)

func TestHandlersApplyEvents(t *testing.T) {
	t.Parallel()
	type step struct {
		file  string
		extra []string
	}
	failedCreated := epoch.Add(-10 * time.Minute)
	tests := []struct {
		name          string
		order         func(*domain.Order)
		steps         []step
		status        domain.Status
		payment       domain.PaymentStatus
		review        string // expected reviewReason; "" = not flagged
		timeline      []string
		metrics       map[string]int
		check         func(t *testing.T, o domain.Order)
		noOrderIDMeta bool
	}{
		{
			name:     "succeeded completes and pays",
			steps:    []step{{file: "payment_intent.succeeded.json"}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			timeline: []string{domain.EntryPaymentSucceeded},
			metrics:  map[string]int{metrics.EventsApplied: 1, metrics.ReviewFlagged: 0},
			check: func(t *testing.T, o domain.Order) {
				e := o.Timeline[0]
				if e.Actor != "stripe" || e.ActorType != "system" || e.EventID != "evt_t_pi_succeeded" {
					t.Errorf("entry = %+v, want stripe/system with the event id", e)
				}
				if o.StripeChargeID != "ch_t" {
					t.Errorf("stripeChargeId = %q, want ch_t", o.StripeChargeID)
				}
			},
		},
		{
			name:     "succeeded found by payment intent index",
			steps:    []step{{file: "payment_intent.succeeded.json"}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			timeline: []string{domain.EntryPaymentSucceeded},
			// The order id is dropped from metadata, leaving only the intent.
			noOrderIDMeta: true,
		},
		{
			name:     "amount mismatch flags review",
			steps:    []step{{file: "payment_intent.succeeded.json", extra: []string{`"amount": 2000`, `"amount": 1500`, `"amount_received": 2000`, `"amount_received": 1500`}}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			review:   domain.ReasonAmountMismatch,
			timeline: []string{domain.EntryPaymentSucceeded, domain.EntryReviewRequired},
			metrics:  map[string]int{metrics.ReviewFlagged: 1},
		},
		{
			name:     "currency mismatch flags review",
			steps:    []step{{file: "payment_intent.succeeded.json", extra: []string{`"currency": "usd"`, `"currency": "eur"`}}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			review:   domain.ReasonCurrencyMismatch,
			timeline: []string{domain.EntryPaymentSucceeded, domain.EntryReviewRequired},
			metrics:  map[string]int{metrics.ReviewFlagged: 1},
		},
		{
			name:     "user mismatch flags review",
			steps:    []step{{file: "payment_intent.succeeded.json", extra: []string{`"orderId": "ord_t"`, `"orderId": "ord_t", "userId": "u_intruder"`}}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			review:   domain.ReasonUserMismatch,
			timeline: []string{domain.EntryPaymentSucceeded, domain.EntryReviewRequired},
			metrics:  map[string]int{metrics.ReviewFlagged: 1},
		},
		{
			name:     "matching userId does not flag",
			steps:    []step{{file: "payment_intent.succeeded.json", extra: []string{`"orderId": "ord_t"`, `"orderId": "ord_t", "userId": "u_1"`}}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			timeline: []string{domain.EntryPaymentSucceeded},
			metrics:  map[string]int{metrics.ReviewFlagged: 0},
		},
		{
			name:     "payment failed records the failure",
			steps:    []step{{file: "payment_intent.payment_failed.json", extra: []string{`"created": 1700000000`, `"created": ` + strconv.FormatInt(failedCreated.Unix(), 10)}}},
			status:   domain.StatusPending,
			payment:  domain.PaymentFailed,
			timeline: []string{domain.EntryPaymentFailed},
			metrics:  map[string]int{metrics.PaymentFailed: 1, metrics.EventsApplied: 1},
			check: func(t *testing.T, o domain.Order) {
				if o.PaymentFailedAt == nil || !o.PaymentFailedAt.Equal(failedCreated) {
					t.Errorf("paymentFailedAt = %v, want event.created %v", o.PaymentFailedAt, failedCreated)
				}
				if got := o.Timeline[0].Meta["code"]; got != "card_declined" {
					t.Errorf("payment_failed meta code = %v, want card_declined", got)
				}
			},
		},
		{
			name:     "failure then success completes",
			steps:    []step{{file: "payment_intent.payment_failed.json"}, {file: "payment_intent.succeeded.json"}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			timeline: []string{domain.EntryPaymentFailed, domain.EntryPaymentSucceeded},
		},
		{
			name:     "full refund after success",
			steps:    []step{{file: "payment_intent.succeeded.json"}, {file: "charge.refunded.json"}},
			status:   domain.StatusRefunded,
			payment:  domain.PaymentRefunded,
			timeline: []string{domain.EntryPaymentSucceeded, domain.EntryRefundFull},
			metrics:  map[string]int{metrics.RefundFull: 1, metrics.EventsApplied: 2},
			check: func(t *testing.T, o domain.Order) {
				if got := o.Timeline[1].Meta["chargeId"]; got != "ch_t" {
					t.Errorf("refund_full chargeId = %v, want ch_t", got)
				}
			},
		},
		{
			name:     "partial refund only notes the timeline",
			steps:    []step{{file: "payment_intent.succeeded.json"}, {file: "charge.refunded.partial.json"}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			timeline: []string{domain.EntryPaymentSucceeded, domain.EntryRefundPartialIgnored},
			metrics:  map[string]int{metrics.RefundFull: 0},
		},
		{
			name:     "paid after cancel completes and flags",
			order:    func(o *domain.Order) { o.Status = domain.StatusCancelled },
			steps:    []step{{file: "payment_intent.succeeded.json"}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			review:   domain.ReasonPaidAfterCancel,
			timeline: []string{domain.EntryPaymentSucceeded, domain.EntryReviewRequired},
			metrics:  map[string]int{metrics.ReviewFlagged: 1},
		},
		{
			name:     "failure after completion changes nothing",
			steps:    []step{{file: "payment_intent.succeeded.json"}, {file: "payment_intent.payment_failed.json"}},
			status:   domain.StatusCompleted,
			payment:  domain.PaymentPaid,
			timeline: []string{domain.EntryPaymentSucceeded},
			metrics:  map[string]int{metrics.PaymentFailed: 0, metrics.EventsApplied: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.createOrder(t, "ord_t", "pi_t", tt.order)
			var batch []domain.Message
			for i, s := range tt.steps {
				extra := s.extra
				if tt.noOrderIDMeta {
					extra = append(extra, `"orderId": "ord_t"`, `"note": "no order id"`)
				}
				body := fixture(t, s.file, "t", "ord_t", "pi_t", extra...)
				batch = append(batch, message(t, "m"+strconv.Itoa(i), body, ""))
			}
			if failed := b.disp.ProcessBatch(b.ctx, batch); len(failed) != 0 {
				t.Fatalf("failed = %v, want none; logs: %v", failed, b.logs.All())
			}
			o := b.order(t, "ord_t")
			if o.Status != tt.status || o.PaymentStatus != tt.payment {
				t.Errorf("status/paymentStatus = %s/%s, want %s/%s", o.Status, o.PaymentStatus, tt.status, tt.payment)
			}
			if o.RequiresReview != (tt.review != "") || o.ReviewReason != tt.review {
				t.Errorf("requiresReview/reason = %v/%q, want reason %q", o.RequiresReview, o.ReviewReason, tt.review)
			}
			if got := timelineTypes(o); !slices.Equal(got, tt.timeline) {
				t.Errorf("timeline = %v, want %v", got, tt.timeline)
			}
			for name, want := range tt.metrics {
				if got := b.metricCount(name); got != want {
					t.Errorf("metric %s recorded %d times, want %d", name, got, want)
				}
			}
			if tt.check != nil {
				tt.check(t, o)
			}
			if tt.noOrderIDMeta {
				want := domain.Filter{PaymentIntentID: "pi_t"}
				if f := b.store.Filters(); !slices.Contains(f, want) {
					t.Errorf("store listed with %+v, want a PaymentIntentIndex lookup %+v", f, want)
				}
			}
		})
	}
}

func TestDuplicateDeliveryAppliedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_dup", "pi_dup", nil)
	body := fixture(t, "payment_intent.succeeded.json", "dup", "ord_dup", "pi_dup")
	// Twice in one batch, then again as a redelivery in a later batch.
	first := []domain.Message{message(t, "m1", body, ""), message(t, "m2", body, "")}
	if failed := b.disp.ProcessBatch(b.ctx, first); len(failed) != 0 {
		t.Fatalf("first batch failed = %v", failed)
	}
	redelivered := message(t, "m3", body, "")
	redelivered.ReceiveCount = 2
	if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{redelivered}); len(failed) != 0 {
		t.Fatalf("redelivery failed = %v", failed)
	}
	o := b.order(t, "ord_dup")
	if got := timelineTypes(o); !slices.Equal(got, []string{domain.EntryPaymentSucceeded}) {
		t.Errorf("timeline = %v, want one payment_succeeded", got)
	}
	if o.Version != 2 {
		t.Errorf("version = %d, want 2 (one write)", o.Version)
	}
	if got := b.metricCount(metrics.EventsApplied); got != 1 {
		t.Errorf("EventsApplied recorded %d times, want 1", got)
	}
}
