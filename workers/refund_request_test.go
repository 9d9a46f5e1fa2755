package workers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/infra/stripeapi"
	"github.com/orderflow/orderflow/workers"
)

// refundBundle is a bundle with a RefundRequester on the Stripe stand-in,
// which knows pi_r as a 2000 usd payment.
type refundBundle struct {
	*bundle
	stripe *emulator.StripeAccountServer
	req    workers.RefundRequester
}

func setupRefund(t *testing.T) refundBundle {
	t.Helper()
	b := setup(t)
	srv := emulator.StripeAccount(t)
	srv.AddPayment("pi_r", "ch_r", 2000, "usd")
	return refundBundle{bundle: b, stripe: srv, req: workers.RefundRequester{Store: b.store, Stripe: stripeClient(t, srv.URL), Clock: b.clock}}
}

func stripeClient(t *testing.T, base string) *stripeapi.Client {
	t.Helper()
	c, err := stripeapi.New(stripeapi.Config{BaseURL: base, Keys: secrets.NewStatic("sk_test_refunds", "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// paidOrder writes a completed, paid order of pi_r.
func (b refundBundle) paidOrder(t *testing.T, id string) {
	t.Helper()
	b.createOrder(t, id, "pi_r", nil)
	b.apply(t, fixture(t, "payment_intent.succeeded.json", "paid_"+id, id, "pi_r"))
}

// apply runs one Stripe event through the dispatcher.
func (b refundBundle) apply(t *testing.T, body []byte) {
	t.Helper()
	if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{message(t, "m", body, "")}); len(failed) != 0 {
		t.Fatalf("event not applied: %v", failed)
	}
}

func (b refundBundle) refundRequests() int {
	n := 0
	for _, r := range b.stripe.Requests() {
		if r.Method == "POST" && r.Path == "/v1/refunds" {
			n++
		}
	}
	return n
}

func TestRefundRequestLifecycle(t *testing.T) {
	t.Parallel()
	b := setupRefund(t)
	b.paidOrder(t, "ord_r")

	o, err := b.req.Refund(b.ctx, "ord_r", "adm_7", "requested_by_customer")
	if err != nil {
		t.Fatalf("Refund: %v", err)
	}
	refunds := b.stripe.Refunds()
	if len(refunds) != 1 {
		t.Fatalf("%d refunds in Stripe, want 1", len(refunds))
	}
	first := refunds[0]
	if first.PaymentIntentID != "pi_r" || first.Reason != "requested_by_customer" || first.IdempotencyKey != "orderflow-refund-ord_r-0" ||
		first.Metadata["orderId"] != "ord_r" || first.Metadata["actorId"] != "adm_7" {
		t.Fatalf("refund in Stripe = %+v", first)
	}
	last := o.Timeline[len(o.Timeline)-1]
	if last.Type != domain.EntryRefundRequested || last.Actor != "admin" || last.ActorType != "user" || last.ActorID != "adm_7" ||
		fmt.Sprint(last.Meta["refundId"]) != first.ID || fmt.Sprint(last.Meta["amount"]) != "2000" || last.Meta["reason"] != "requested_by_customer" {
		t.Fatalf("timeline entry = %+v", last)
	}
	if o.Status != domain.StatusCompleted || o.PaymentStatus != domain.PaymentPaid {
		t.Fatalf("status %s/%s after the request; the order waits for charge.refunded", o.Status, o.PaymentStatus)
	}

	t.Run("second request while pending", func(t *testing.T) {
		before := b.refundRequests()
		_, err := b.req.Refund(b.ctx, "ord_r", "adm_8", "")
		if !errors.Is(err, domain.ErrAlreadyRefunding) || !strings.Contains(err.Error(), "already refunding") {
			t.Fatalf("err = %v, want already refunding", err)
		}
		if b.refundRequests() != before || len(b.stripe.Refunds()) != 1 {
			t.Fatal("a second refund request reached Stripe")
		}
	})

	// The refund fails in Stripe: refund.failed arrives.
	b.stripe.FailRefund(first.ID)
	b.apply(t, fixture(t, "2025-03-31.basil/refund.failed.json", "rf1", "ord_r", "pi_r", "re_fixture", first.ID))
	if o := b.order(t, "ord_r"); o.Timeline[len(o.Timeline)-1].Type != domain.EntryRefundFailed {
		t.Fatalf("timeline = %v", timelineTypes(o))
	}

	t.Run("after refund.failed a new key", func(t *testing.T) {
		o, err := b.req.Refund(b.ctx, "ord_r", "adm_7", "")
		if err != nil {
			t.Fatalf("Refund: %v", err)
		}
		refunds := b.stripe.Refunds()
		if len(refunds) != 2 || refunds[1].IdempotencyKey != "orderflow-refund-ord_r-1" || refunds[1].ID == first.ID {
			t.Fatalf("refunds = %+v", refunds)
		}
		if n := countType(o, domain.EntryRefundRequested); n != 2 {
			t.Fatalf("%d refund_requested entries, want 2", n)
		}
	})

	t.Run("refunded only when charge.refunded arrives", func(t *testing.T) {
		if o := b.order(t, "ord_r"); o.Status != domain.StatusCompleted {
			t.Fatalf("status %s before charge.refunded", o.Status)
		}
		b.apply(t, fixture(t, "charge.refunded.json", "cr1", "ord_r", "pi_r", `"created": 1700000000`, `"created": 1700000100`))
		o := b.order(t, "ord_r")
		if o.Status != domain.StatusRefunded || o.PaymentStatus != domain.PaymentRefunded {
			t.Fatalf("status %s/%s after charge.refunded", o.Status, o.PaymentStatus)
		}
		_, err := b.req.Refund(b.ctx, "ord_r", "adm_7", "")
		if !errors.Is(err, domain.ErrAlreadyRefunded) {
			t.Fatalf("refund of a refunded order: err = %v", err)
		}
	})
}

func countType(o domain.Order, typ string) int {
	n := 0
	for _, e := range o.Timeline {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestRefundRequestConcurrentMakesOneRefund(t *testing.T) {
	t.Parallel()
	// Same details: Stripe answers every request with the one refund of the
	// shared key and the conditional write keeps one entry. Other actors:
	// Stripe refuses the reused key, which reads as already refunding.
	for name, actor := range map[string]func(int) string{
		"same actor":   func(int) string { return "adm_1" },
		"other actors": func(i int) string { return fmt.Sprintf("adm_%d", i) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupRefund(t)
			b.paidOrder(t, "ord_c")
			const n = 4
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = b.req.Refund(b.ctx, "ord_c", actor(i), "duplicate")
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, domain.ErrAlreadyRefunding):
					t.Errorf("err = %v, want nil or already refunding", err)
				}
			}
			o := b.order(t, "ord_c")
			if ok != 1 || countType(o, domain.EntryRefundRequested) != 1 || len(b.stripe.Refunds()) != 1 {
				t.Fatalf("%d succeeded, %d refund_requested entries, %d Stripe refunds; want 1 each", ok, countType(o, domain.EntryRefundRequested), len(b.stripe.Refunds()))
			}
		})
	}
}

func TestRefundRequestStripeRefusalIsOneLine(t *testing.T) {
	t.Parallel()
	b := setupRefund(t)
	b.paidOrder(t, "ord_s")
	// Someone refunded the charge in the dashboard; its webhook is not here yet.
	if _, err := stripeClient(t, b.stripe.URL).CreateRefund(b.ctx, stripeapi.RefundParams{PaymentIntentID: "pi_r", OrderID: "ord_s", IdempotencyKey: "dashboard"}); err != nil {
		t.Fatal(err)
	}
	before := b.order(t, "ord_s")
	_, err := b.req.Refund(b.ctx, "ord_s", "adm_7", "")
	var refused *stripeapi.RefusedError
	if !errors.As(err, &refused) || refused.Code != "charge_already_refunded" || !errors.Is(err, domain.ErrAlreadyRefunded) {
		t.Fatalf("err = %v", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "ord_s") || !strings.Contains(msg, "has already been refunded") {
		t.Fatalf("message = %q", msg)
	}
	if after := b.order(t, "ord_s"); after.Version != before.Version {
		t.Fatal("a refused refund changed the order")
	}
}

func TestRefundRequestGuards(t *testing.T) {
	t.Parallel()
	b := setupRefund(t)
	b.createOrder(t, "ord_pending", "pi_r", nil)
	b.createOrder(t, "ord_nopi", "", func(o *domain.Order) { o.Status, o.PaymentStatus = domain.StatusCompleted, domain.PaymentPaid })
	b.createOrder(t, "ord_cancelled", "pi_r", func(o *domain.Order) { o.Status = domain.StatusCancelled })
	b.createOrder(t, "ord_refunded", "pi_r", func(o *domain.Order) { o.Status, o.PaymentStatus = domain.StatusRefunded, domain.PaymentRefunded })
	b.paidOrder(t, "ord_ok")
	tests := []struct {
		id, actor, reason string
		want              error
	}{
		{"ord_pending", "adm_1", "", domain.ErrNotPaid},
		{"ord_cancelled", "adm_1", "", domain.ErrNotPaid},
		{"ord_refunded", "adm_1", "", domain.ErrAlreadyRefunded},
		{"ord_nopi", "adm_1", "", domain.ErrInvalid},
		{"ord_missing", "adm_1", "", domain.ErrNotFound},
		{"ord_ok", "", "", domain.ErrInvalid},
		{"ord_ok", "adm_1", "changed_mind", domain.ErrInvalid},
	}
	for _, tt := range tests {
		if _, err := b.req.Refund(b.ctx, tt.id, tt.actor, tt.reason); !errors.Is(err, tt.want) {
			t.Errorf("Refund(%s, %q, %q): err = %v, want %v", tt.id, tt.actor, tt.reason, err, tt.want)
		}
	}
	if n := b.refundRequests(); n != 0 {
		t.Fatalf("%d refund requests reached Stripe", n)
	}
}

func TestRefundRequestAgainstStripeMock(t *testing.T) {
	t.Parallel()
	b := setupRefund(t)
	b.req.Stripe = stripeClient(t, emulator.StripeMock(t))
	b.paidOrder(t, "ord_m")
	o, err := b.req.Refund(b.ctx, "ord_m", "adm_7", "fraudulent")
	if err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if got := timelineTypes(o); !slices.Contains(got, domain.EntryRefundRequested) {
		t.Fatalf("timeline = %v", got)
	}
	if id := fmt.Sprint(o.Timeline[len(o.Timeline)-1].Meta["refundId"]); !strings.HasPrefix(id, "re_") {
		t.Fatalf("refundId = %q", id)
	}
}

// hookCreator calls after once Stripe made the refund, before the
// requester records it: the webhooks that can overtake that write.
type hookCreator struct {
	inner workers.RefundCreator
	after func(stripeapi.Refund)
}

func (h hookCreator) CreateRefund(ctx context.Context, p stripeapi.RefundParams) (stripeapi.Refund, error) {
	r, err := h.inner.CreateRefund(ctx, p)
	if err == nil && h.after != nil {
		h.after(r)
	}
	return r, err
}

// failingSaves is the store with writes failing while fail is set.
type failingSaves struct {
	domain.Store
	fail *atomic.Bool
}

func (s failingSaves) Save(ctx context.Context, o domain.Order, v int64, eventID string) error {
	if s.fail.Load() {
		return errors.New("connection reset")
	}
	return s.Store.Save(ctx, o, v, eventID)
}

func TestRefundRequestRaces(t *testing.T) {
	t.Parallel()
	t.Run("charge.refunded overtakes the write", func(t *testing.T) {
		t.Parallel()
		b := setupRefund(t)
		b.paidOrder(t, "ord_o")
		b.req.Stripe = hookCreator{inner: b.req.Stripe, after: func(r stripeapi.Refund) {
			b.apply(t, fixture(t, "charge.refunded.json", "cr_o", "ord_o", "pi_r", "re_fixture", r.ID, `"created": 1700000000`, `"created": 1700000100`))
		}}
		o, err := b.req.Refund(b.ctx, "ord_o", "adm_7", "")
		if err != nil || o.Status != domain.StatusRefunded {
			t.Fatalf("Refund = %s, %v; want the refunded order and no error", o.Status, err)
		}
	})
	t.Run("refund.failed overtakes the write", func(t *testing.T) {
		t.Parallel()
		b := setupRefund(t)
		b.paidOrder(t, "ord_f")
		inner := b.req.Stripe
		b.req.Stripe = hookCreator{inner: inner, after: func(r stripeapi.Refund) {
			b.stripe.FailRefund(r.ID)
			b.apply(t, fixture(t, "2025-03-31.basil/refund.failed.json", "rf_f", "ord_f", "pi_r", "re_fixture", r.ID))
		}}
		o, err := b.req.Refund(b.ctx, "ord_f", "adm_7", "")
		if err != nil || countType(o, domain.EntryRefundRequested) != 0 {
			t.Fatalf("Refund: %v, timeline %v; want no refund_requested after its failure", err, timelineTypes(o))
		}
		b.req.Stripe = inner
		if _, err := b.req.Refund(b.ctx, "ord_f", "adm_7", ""); err != nil {
			t.Fatalf("a new attempt after the failure: %v", err)
		}
		if r := b.stripe.Refunds(); len(r) != 2 || r[1].IdempotencyKey != "orderflow-refund-ord_f-1" {
			t.Fatalf("refunds = %+v", r)
		}
	})
	t.Run("write fails after Stripe, the retry records the same refund", func(t *testing.T) {
		t.Parallel()
		b := setupRefund(t)
		b.paidOrder(t, "ord_w")
		fail := &atomic.Bool{}
		fail.Store(true)
		b.req.Store = failingSaves{Store: b.store, fail: fail}
		_, err := b.req.Refund(b.ctx, "ord_w", "adm_7", "duplicate")
		if err == nil || !strings.Contains(err.Error(), "was created but not recorded") || !strings.Contains(err.Error(), "run the same request again") {
			t.Fatalf("err = %v", err)
		}
		fail.Store(false)
		o, err := b.req.Refund(b.ctx, "ord_w", "adm_7", "duplicate")
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		refunds := b.stripe.Refunds()
		if len(refunds) != 1 || fmt.Sprint(o.Timeline[len(o.Timeline)-1].Meta["refundId"]) != refunds[0].ID {
			t.Fatalf("refunds %+v, timeline %+v", refunds, o.Timeline)
		}
	})
}
