package workers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/stripeapi"
)

// RefundCreator creates refunds in Stripe (stripeapi.Client does).
type RefundCreator interface {
	CreateRefund(ctx context.Context, p stripeapi.RefundParams) (stripeapi.Refund, error)
}

// RefundRequester starts full refunds from orderflow (SPEC §14, playbook
// §11–12), for the CLI, the admin API and the console alike.
type RefundRequester struct {
	Store  domain.Store
	Stripe RefundCreator
	Clock  domain.Clock
}

// Refund creates a full Stripe refund of the order's payment intent and
// records timeline refund_requested; the order turns refunded when
// charge.refunded arrives. reason is "" or one of stripeapi.RefundReasons.
//
// Two requests at once never make two refunds: both send the same
// Idempotency-Key (domain.RefundIdempotencyKey), so Stripe answers both with
// one refund, and the conditional write with domain.RefundGuard lets only one
// refund_requested entry in; the other gets domain.ErrAlreadyRefunding. A
// retry after a crash between Stripe and the write reuses the key and records
// the refund Stripe already made.
//
// Errors: domain.ErrNotFound; domain.ErrInvalid (bad input, no payment
// intent, or Stripe refusing; *stripeapi.RefusedError); domain.ErrNotPaid;
// domain.ErrAlreadyRefunding; domain.ErrAlreadyRefunded (the order, or
// Stripe's charge_already_refunded). Anything else is worth retrying.
func (r RefundRequester) Refund(ctx context.Context, orderID, actorID, reason string) (domain.Order, error) {
	if strings.TrimSpace(actorID) == "" {
		return domain.Order{}, fmt.Errorf("%w: a refund needs the admin's id (actorId)", domain.ErrInvalid)
	}
	if !stripeapi.ValidRefundReason(reason) {
		return domain.Order{}, fmt.Errorf("%w: refund reason %q: want one of %s", domain.ErrInvalid, reason, strings.Join(stripeapi.RefundReasons, ", "))
	}
	if r.Stripe == nil {
		return domain.Order{}, fmt.Errorf("refund: %w: no Stripe client (set STRIPE_SECRET_KEY or STRIPE_SECRET_ARN)", domain.ErrNotConfigured)
	}
	clock := r.Clock
	if clock == nil {
		clock = domain.SystemClock{}
	}
	o, err := r.Store.Get(ctx, orderID)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Order{}, fmt.Errorf("order %s: %w", orderID, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Order{}, err
	}
	if err := domain.RefundGuard(o); err != nil {
		return domain.Order{}, err
	}
	refund, err := r.Stripe.CreateRefund(ctx, stripeapi.RefundParams{
		PaymentIntentID: o.StripePaymentIntentID, Reason: reason,
		OrderID: o.ID, ActorID: actorID, IdempotencyKey: domain.RefundIdempotencyKey(o),
	})
	var refused *stripeapi.RefusedError
	if errors.As(err, &refused) && refused.IdempotencyConflict() {
		// The key was used with other details (another operator, another
		// reason): a request for this order is in flight or was made.
		return domain.Order{}, fmt.Errorf("order %s: %w: Stripe already has a refund request under key %s with other details (%s)",
			o.ID, domain.ErrAlreadyRefunding, domain.RefundIdempotencyKey(o), refused.Msg)
	}
	if err != nil {
		return domain.Order{}, fmt.Errorf("order %s: %w", o.ID, err)
	}
	c := domain.Change{
		Trigger: domain.TriggerRequestRefund, Actor: domain.Admin(actorID),
		Refund: &domain.RefundRequest{RefundID: refund.ID, Amount: refund.Amount, Reason: reason},
	}
	updated, _, err := domain.Update(ctx, r.Store, clock, o.ID, "", func(o *domain.Order) (bool, error) {
		if refundEnded(*o, refund.ID) {
			// refund.failed overtook this write: the refund is over, and a
			// refund_requested now would block every later attempt.
			return false, nil
		}
		c.At = clock.Now()
		return domain.Apply(o, c)
	})
	switch {
	case err == nil, errors.Is(err, domain.ErrAlreadyRefunding):
		return updated, err
	case errors.Is(err, domain.ErrAlreadyRefunded):
		// charge.refunded (of this refund, or another way the money went
		// back) overtook this write: the order is where the refund leads.
		return updated, nil
	}
	return domain.Order{}, fmt.Errorf("order %s: Stripe refund %s was created but not recorded; run the same request again to record it (its idempotency key returns the same refund): %w",
		o.ID, refund.ID, err)
}

// refundEnded reports whether the order's timeline already has the failure
// of refund id.
func refundEnded(o domain.Order, id string) bool {
	for _, e := range o.Timeline {
		if e.Type == domain.EntryRefundFailed && fmt.Sprint(e.Meta["refundId"]) == id {
			return true
		}
	}
	return false
}
