package workers

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/domain"
)

// Operator holds the operator use-cases of SPEC §3 and §9 that change one
// order. The CLI, the admin API and the console call these and nothing else,
// so every front end applies the same rule with the same conditional write.
type Operator struct {
	Store domain.Store
	Clock domain.Clock
}

// ClearReview clears the order's review flag (playbook §2, §8). Errors:
// domain.ErrNotFound, domain.ErrNotFlagged.
func (op Operator) ClearReview(ctx context.Context, orderID, actorID string) (domain.Order, error) {
	return op.change(ctx, orderID, domain.Change{Trigger: domain.TriggerClearReview, Actor: domain.Admin(actorID)})
}

// MarkRefunded records a refund made outside Stripe webhooks (playbook §4).
// Errors: domain.ErrNotFound, domain.ErrAlreadyRefunded.
func (op Operator) MarkRefunded(ctx context.Context, orderID, actorID string) (domain.Order, error) {
	return op.change(ctx, orderID, domain.Change{Trigger: domain.TriggerMarkRefunded, Actor: domain.Admin(actorID)})
}

// LinkPaymentIntent attaches a payment intent to the order so that its
// events find it (SPEC §9; then `dlq redrive`). Linking the intent the order
// already has changes nothing. Errors: domain.ErrNotFound, domain.ErrInvalid
// (not a pi_… id), domain.ErrAlreadyLinked (the order has another intent, or
// the intent is another order's, without force).
func (op Operator) LinkPaymentIntent(ctx context.Context, orderID, paymentIntentID, actorID string, force bool) (domain.Order, error) {
	if err := domain.CheckPaymentIntentID(paymentIntentID); err != nil {
		return domain.Order{}, err
	}
	if !force {
		// A payment belongs to one order, as orders put insists: with two,
		// the intent's refunds and disputes could go to the wrong one.
		var holder string
		err := op.Store.List(ctx, domain.Filter{PaymentIntentID: paymentIntentID}, func(o domain.Order) error {
			if o.ID != orderID {
				holder = o.ID
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return domain.Order{}, fmt.Errorf("link payment intent: find its order: %w", err)
		}
		if holder != "" {
			return domain.Order{}, fmt.Errorf("order %s: %w: %s is already the payment of order %s (force to link it anyway)", orderID, domain.ErrAlreadyLinked, paymentIntentID, holder)
		}
	}
	return op.change(ctx, orderID, domain.Change{
		Trigger: domain.TriggerLinkPaymentIntent, Actor: domain.Admin(actorID),
		PaymentIntentID: paymentIntentID, Force: force,
	})
}

// change applies one operator transition with the store's conditional write.
func (op Operator) change(ctx context.Context, orderID string, c domain.Change) (domain.Order, error) {
	if c.Actor.ID == "" {
		return domain.Order{}, fmt.Errorf("%w: an operator action needs the admin's id (actorId)", domain.ErrInvalid)
	}
	clock := op.Clock
	if clock == nil {
		clock = domain.SystemClock{}
	}
	o, _, err := domain.Update(ctx, op.Store, clock, orderID, "", func(o *domain.Order) (bool, error) {
		c.At = clock.Now()
		return domain.Apply(o, c)
	})
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Order{}, fmt.Errorf("order %s: %w", orderID, domain.ErrNotFound)
	}
	return o, err
}
