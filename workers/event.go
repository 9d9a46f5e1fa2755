package workers

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
)

// errStop ends a store.List walk at the first match.
var errStop = errors.New("stop")

// IndexWarning starts the log line of a lookup that no index can answer
// (SPEC §3, playbook §9).
const IndexWarning = "[orders-index-warning]"

// Stripe applies every catalogued Stripe event (domain.Catalogue) to its
// order through the transition table; which row applies is the catalogue's
// business, so this one handler serves every type.
type Stripe struct{ deps Deps }

// NewStripe returns the Stripe event worker.
func NewStripe(d Deps) *Stripe { return &Stripe{deps: d.withDefaults()} }

// Handle applies one Stripe event to its order. Errors: permanent for a body
// that is not a catalogued Stripe event; domain.NotYet when its order is not
// written yet; transient otherwise.
func (h *Stripe) Handle(ctx context.Context, msg domain.Message) error {
	ev, err := domain.ParseEvent(msg.Body)
	if err != nil {
		return domain.Permanent(err)
	}
	trigger, err := domain.TriggerForEvent(ev)
	if err != nil {
		return err
	}
	log := h.deps.Logger.With(msgFields(msg, "")...)
	// A scan reads the whole table: only on a message's first delivery, so
	// a refund of a payment that is not the store's (same Stripe account,
	// another product) costs one scan, not one per retry. A redriven message
	// is on its first delivery again.
	mayScan := msg.ReceiveCount <= 1
	orderID, err := h.findOrder(ctx, log, ev, mayScan)
	if err != nil {
		return err
	}

	noteOrder(ctx, orderID)
	log = log.With(zap.String(logging.FieldOrderID, orderID))

	// metadata.orderId wins when it is set, even when it names no order yet
	// (SPEC §3): the checkout may not have written it, and applying the
	// event to another order that holds the intent could be the wrong one.
	var wasFlagged bool
	var effect domain.Effect
	o, changed, err := domain.Update(ctx, h.deps.Store, h.deps.Clock, orderID, ev.ID, func(o *domain.Order) (bool, error) {
		wasFlagged = o.RequiresReview
		var changed bool
		var err error
		effect, changed, err = domain.ApplyEffect(o, domain.Change{Trigger: trigger, Event: &ev, Actor: domain.ActorStripe, At: h.deps.Clock.Now()})
		return changed, err
	})
	switch {
	case errors.Is(err, domain.ErrAlreadyApplied):
		log.Debug("event already applied")
		return nil
	case errors.Is(err, domain.ErrNotFound):
		// Found by metadata.orderId but not written yet (or deleted).
		return domain.NotYet(fmt.Errorf("event %s: order %s: %w", ev.ID, orderID, err))
	case err != nil:
		return fmt.Errorf("apply event %s to order %s: %w", ev.ID, orderID, err)
	case !changed:
		log.Debug("event changes nothing", zap.String("status", string(o.Status)))
		return nil
	}

	dims := map[string]string{"eventType": ev.Type}
	h.deps.Metrics.Count(metrics.EventsApplied, 1, dims)
	if name := domain.EffectMetrics[effect]; name != "" {
		h.deps.Metrics.Count(name, 1, dims)
	}
	if o.RequiresReview && !wasFlagged {
		h.deps.Metrics.Count(metrics.ReviewFlagged, 1, map[string]string{"reason": o.ReviewReason})
		log.Warn("order flagged for review", zap.String("reviewReason", o.ReviewReason))
	}
	switch effect {
	case domain.NoteDuplicatePayment, domain.NoteOtherPayment:
		log.Warn("event of another payment than the order's", zap.String("effect", string(effect)),
			zap.String("paymentIntentId", ev.PaymentIntentID()), zap.String("orderPaymentIntentId", o.StripePaymentIntentID))
	}
	if ce := log.Check(zap.DebugLevel, "event applied"); ce != nil {
		ce.Write(zap.String("trigger", string(trigger)), zap.String("effect", string(effect)),
			zap.String("status", string(o.Status)), zap.String("paymentStatus", string(o.PaymentStatus)),
			zap.Int64("version", o.Version))
	}
	return nil
}

// findOrder resolves the order an event is about (SPEC §3): metadata.orderId,
// else its payment (findByPayment).
func (h *Stripe) findOrder(ctx context.Context, log *zap.Logger, ev domain.Event, mayScan bool) (string, error) {
	if id := ev.OrderID(); id != "" {
		return id, nil
	}
	return h.findByPayment(ctx, log, ev, mayScan)
}

// findByPayment finds the order of the event's payment: the payment intent
// through PaymentIntentIndex; for the money of a payment (a refund, refund
// failure, dispute or charge, whose objects carry no metadata.orderId) whose
// intent no order holds, the order that recorded the intent as another
// payment (a double charge refunded in Stripe, as the playbook says to;
// only when mayScan);
// for a charge made without an intent, the charge. The last two are filtered
// scans, logged with IndexWarning. No order is domain.NotYet: the checkout
// may not have written it yet, and an operator can `orders
// link-payment-intent` and redrive.
func (h *Stripe) findByPayment(ctx context.Context, log *zap.Logger, ev domain.Event, mayScan bool) (string, error) {
	pi, ch := ev.PaymentIntentID(), ev.ChargeID()
	var tries []domain.Filter
	switch {
	case pi != "":
		tries = append(tries, domain.Filter{PaymentIntentID: pi})
		if !ev.AboutPaymentIntent() && mayScan {
			tries = append(tries, domain.Filter{OtherPaymentIntentID: pi})
		}
	case ch != "":
		tries = append(tries, domain.Filter{ChargeID: ch})
	default:
		return "", domain.Permanentf("%w: event %s has neither metadata.orderId, a payment intent nor a charge", domain.ErrInvalid, ev.ID)
	}
	for _, f := range tries {
		switch {
		case f.ChargeID != "":
			log.Warn(IndexWarning+" no index on stripeChargeId: finding the order of charge "+ch+" by a filtered scan",
				zap.String("chargeId", ch))
		case f.OtherPaymentIntentID != "":
			log.Warn(IndexWarning+" no order has payment intent "+pi+" as its payment: finding the order that recorded it as another payment by a filtered scan",
				zap.String("paymentIntentId", pi))
		}
		// Two orders can hold one intent (a checkout resumed with the same
		// PaymentIntent for another order): the one it paid, if any, is the
		// order; else the first listed.
		var found string
		err := h.deps.Store.List(ctx, f, func(o domain.Order) error {
			if found == "" {
				found = o.ID
			}
			if o.PaidBy(pi) {
				found = o.ID
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return "", fmt.Errorf("event %s: find its order: %w", ev.ID, err)
		}
		if found != "" {
			return found, nil
		}
	}
	what := "payment intent " + pi
	if pi == "" {
		what = "charge " + ch
	}
	return "", domain.NotYet(fmt.Errorf("event %s: no order has %s (link it with `orderflow orders link-payment-intent`, then redrive): %w", ev.ID, what, domain.ErrNotFound))
}
