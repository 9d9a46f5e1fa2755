package workers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
)

// errStop ends a store.List walk at the first match.
var errStop = errors.New("stop")

// stripeHandler applies Stripe events of the given types to their order; the
// payment and refund workers are this with different types.
type stripeHandler struct {
	deps  Deps
	types []string
}

func (h *stripeHandler) handle(ctx context.Context, msg domain.Message) error {
	ev, err := domain.ParseEvent(msg.Body)
	if err != nil {
		return domain.Permanent(err)
	}
	if !slices.Contains(h.types, ev.Type) {
		return domain.Permanentf("%w: event %s of type %q sent to the %v handler", domain.ErrInvalid, ev.ID, ev.Type, h.types)
	}
	trigger, err := domain.TriggerForEvent(ev)
	if err != nil {
		return err
	}
	log := h.deps.Logger.With(msgFields(msg, "")...)
	orderID, err := h.findOrder(ctx, log, ev)
	if err != nil {
		return err
	}
	noteOrder(ctx, orderID)
	log = log.With(zap.String(logging.FieldOrderID, orderID))

	var wasFlagged bool
	o, changed, err := domain.Update(ctx, h.deps.Store, h.deps.Clock, orderID, ev.ID, func(o *domain.Order) (bool, error) {
		wasFlagged = o.RequiresReview
		return domain.Apply(o, domain.Change{Trigger: trigger, Event: &ev, Actor: domain.ActorStripe, At: h.deps.Clock.Now()})
	})
	switch {
	case errors.Is(err, domain.ErrAlreadyApplied):
		log.Info("event already applied")
		return nil
	case errors.Is(err, domain.ErrNotFound):
		// Written after we resolved the id, or deleted: retry like a missing order.
		return fmt.Errorf("event %s: order %s: %w", ev.ID, orderID, err)
	case err != nil:
		return fmt.Errorf("apply event %s to order %s: %w", ev.ID, orderID, err)
	case !changed:
		log.Info("event changes nothing", zap.String("status", string(o.Status)), zap.Bool("alreadyApplied", o.HasApplied(ev.ID)))
		return nil
	}

	dims := map[string]string{"eventType": ev.Type}
	h.deps.Metrics.Count(metrics.EventsApplied, 1, dims)
	switch trigger {
	case domain.TriggerRefundFull:
		h.deps.Metrics.Count(metrics.RefundFull, 1, dims)
	case domain.TriggerPaymentFailed:
		h.deps.Metrics.Count(metrics.PaymentFailed, 1, dims)
	}
	if o.RequiresReview && !wasFlagged {
		h.deps.Metrics.Count(metrics.ReviewFlagged, 1, map[string]string{"reason": o.ReviewReason})
		log.Warn("order flagged for review", zap.String("reviewReason", o.ReviewReason))
	}
	log.Info("event applied", zap.String("trigger", string(trigger)),
		zap.String("status", string(o.Status)), zap.String("paymentStatus", string(o.PaymentStatus)),
		zap.Int64("version", o.Version))
	return nil
}

// findOrder resolves the order an event is about (SPEC §3): metadata.orderId,
// else the payment intent through the store's PaymentIntentIndex. A missing
// order is transient because the checkout may not have written it yet; the
// message then reaches the DLQ after the receive limit.
func (h *stripeHandler) findOrder(ctx context.Context, log *zap.Logger, ev domain.Event) (string, error) {
	if id := ev.OrderID(); id != "" {
		return id, nil
	}
	pi := ev.PaymentIntentID()
	if pi == "" {
		return "", domain.Permanentf("%w: event %s has neither metadata.orderId nor a payment intent", domain.ErrInvalid, ev.ID)
	}
	var found string
	err := h.deps.Store.List(ctx, domain.Filter{PaymentIntentID: pi}, func(o domain.Order) error {
		found = o.ID
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return "", fmt.Errorf("event %s: find order by payment intent %s: %w", ev.ID, pi, err)
	}
	if found == "" {
		return "", fmt.Errorf("event %s: order for payment intent %s: %w", ev.ID, pi, domain.ErrNotFound)
	}
	log.Debug("order found by payment intent", zap.String("paymentIntentId", pi))
	return found, nil
}
