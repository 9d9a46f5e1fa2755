package stripeapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/stripeapi"
)

func TestRefundAgainstStripeMock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, emulator.StripeMock(t), "sk_test_123")
	// stripe-mock checks every parameter against Stripe's OpenAPI spec: a
	// wrong name or enum value for payment_intent, reason or metadata fails.
	r, err := c.CreateRefund(ctx, stripeapi.RefundParams{
		PaymentIntentID: "pi_mock_1", Reason: "requested_by_customer",
		OrderID: "ord_1", ActorID: "adm_1", IdempotencyKey: "orderflow-refund-ord_1-0",
	})
	if err != nil || !strings.HasPrefix(r.ID, "re_") {
		t.Fatalf("CreateRefund = %+v, %v", r, err)
	}
	eps, err := c.ListWebhookEndpoints(ctx)
	if err != nil || len(eps) == 0 || eps[0].ID == "" {
		t.Fatalf("ListWebhookEndpoints = %+v, %v", eps, err)
	}
	if err := c.CheckKey(ctx); err != nil {
		t.Fatalf("CheckKey: %v", err)
	}
}

func TestRefundAgainstStandIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := emulator.StripeAccount(t)
	srv.AddPayment("pi_1", "ch_1", 2500, "eur")
	c := newClient(t, srv.URL, testKey)
	p := stripeapi.RefundParams{PaymentIntentID: "pi_1", Reason: "duplicate", OrderID: "ord_1", ActorID: "adm_7", IdempotencyKey: "orderflow-refund-ord_1-0"}

	r, err := c.CreateRefund(ctx, p)
	if err != nil {
		t.Fatalf("CreateRefund: %v", err)
	}
	if r.Amount != 2500 || r.PaymentIntentID != "pi_1" || r.Reason != "duplicate" || r.Currency != "eur" {
		t.Fatalf("refund = %+v", r)
	}
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	if last.IdempotencyKey != "orderflow-refund-ord_1-0" || last.Form.Get("payment_intent") != "pi_1" ||
		last.Form.Get("reason") != "duplicate" || last.Form.Get("metadata[orderId]") != "ord_1" || last.Form.Get("metadata[actorId]") != "adm_7" {
		t.Fatalf("request = %+v", last)
	}

	t.Run("same key, same refund", func(t *testing.T) {
		again, err := c.CreateRefund(ctx, p)
		if err != nil || again.ID != r.ID || len(srv.Refunds()) != 1 {
			t.Fatalf("retry = %+v, %v; %d refunds", again, err, len(srv.Refunds()))
		}
	})
	t.Run("already refunded is one clear line", func(t *testing.T) {
		q := p
		q.IdempotencyKey = "orderflow-refund-ord_1-9"
		_, err := c.CreateRefund(ctx, q)
		var refused *stripeapi.RefusedError
		if !errors.As(err, &refused) || refused.Code != "charge_already_refunded" || !errors.Is(err, domain.ErrAlreadyRefunded) {
			t.Fatalf("err = %#v", err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "charge_already_refunded") || !strings.Contains(msg, "ch_1") {
			t.Fatalf("message = %q", msg)
		}
	})
	t.Run("unknown payment intent", func(t *testing.T) {
		q := p
		q.PaymentIntentID, q.IdempotencyKey = "pi_nope", "k-nope"
		_, err := c.CreateRefund(ctx, q)
		if !errors.Is(err, domain.ErrInvalid) || !strings.Contains(err.Error(), "resource_missing") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad input never reaches Stripe", func(t *testing.T) {
		n := len(srv.Requests())
		for _, q := range []stripeapi.RefundParams{
			{PaymentIntentID: "ch_1", OrderID: "o", IdempotencyKey: "k"},
			{PaymentIntentID: "pi_1", Reason: "changed_mind", OrderID: "o", IdempotencyKey: "k"},
			{PaymentIntentID: "pi_1", IdempotencyKey: "k"},
			{PaymentIntentID: "pi_1", OrderID: "o"},
		} {
			if _, err := c.CreateRefund(ctx, q); !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("%+v: err = %v", q, err)
			}
		}
		if len(srv.Requests()) != n {
			t.Fatal("an invalid refund was sent")
		}
	})
	t.Run("bad key is redacted", func(t *testing.T) {
		srv := emulator.StripeAccount(t)
		srv.SetKey("sk_test_the_right_one")
		bad := newClient(t, srv.URL, "sk_test_wrong_key_abcdef")
		err := bad.CheckKey(ctx)
		if err == nil || strings.Contains(err.Error(), "wrong_key") || !strings.Contains(err.Error(), "401") {
			t.Fatalf("err = %v", err)
		}
		if _, err := bad.CreateRefund(ctx, p); err == nil || strings.Contains(err.Error(), "wrong_key") || errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("refund with a bad key: err = %v (a bad key is no refusal of the refund)", err)
		}
	})
	t.Run("webhook endpoints", func(t *testing.T) {
		srv.SetWebhookEndpoints(
			emulator.StripeWebhookEndpoint{ID: "we_1", URL: "https://a.example/webhooks/stripe", EnabledEvents: []string{"*"}},
			emulator.StripeWebhookEndpoint{ID: "we_2", URL: "https://b.example/webhooks/stripe", Status: "disabled", EnabledEvents: []string{"charge.refunded"}},
		)
		eps, err := c.ListWebhookEndpoints(ctx)
		if err != nil || len(eps) != 2 || eps[0].URL != "https://a.example/webhooks/stripe" || eps[1].Status != "disabled" || eps[1].EnabledEvents[0] != "charge.refunded" {
			t.Fatalf("endpoints = %+v, %v", eps, err)
		}
	})
}
