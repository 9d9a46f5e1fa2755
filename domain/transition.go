package domain

import (
	"fmt"
	"time"
)

// Trigger is anything that can change an order: a Stripe event (split into
// full and partial refunds), the cleanup schedule or an operator command.
type Trigger string

// Triggers, the rows of the transition table (SPEC §3).
const (
	TriggerPaymentSucceeded Trigger = "payment_succeeded"
	TriggerPaymentFailed    Trigger = "payment_failed"
	TriggerRefundFull       Trigger = "refund_full"
	TriggerRefundPartial    Trigger = "refund_partial"
	TriggerCleanup          Trigger = "cleanup"
	TriggerClearReview      Trigger = "clear_review"
	TriggerMarkRefunded     Trigger = "mark_refunded"
)

// Triggers lists every row of the table.
var Triggers = []Trigger{
	TriggerPaymentSucceeded, TriggerPaymentFailed, TriggerRefundFull, TriggerRefundPartial,
	TriggerCleanup, TriggerClearReview, TriggerMarkRefunded,
}

// Effect is what a (trigger, status) cell does.
type Effect string

// Effects, the values of the transition table.
const (
	NoChange              Effect = "no_change"
	CompletePayment       Effect = "complete_payment"       // → completed, paid, fraud check
	CompleteAfterCancel   Effect = "complete_after_cancel"  // → completed, paid, flagged paid_after_cancel
	RecordPaymentFailure  Effect = "record_payment_failure" // paymentStatus failed, paymentFailedAt
	RefundInFull          Effect = "refund_in_full"         // → refunded
	IgnorePartialRefund   Effect = "ignore_partial_refund"  // timeline note only
	CancelStaleFailure    Effect = "cancel_stale_failure"   // → cancelled when the failure is old enough
	ClearReviewFlag       Effect = "clear_review_flag"      // requiresReview → false
	RejectAlreadyRefunded Effect = "reject_already_refunded"
)

// Transitions is SPEC §3 as data: every (trigger × status) pair has an effect.
// Handlers go through Apply; nothing else edits statuses.
var Transitions = map[Trigger]map[Status]Effect{
	TriggerPaymentSucceeded: {StatusPending: CompletePayment, StatusCompleted: NoChange, StatusCancelled: CompleteAfterCancel, StatusRefunded: NoChange},
	TriggerPaymentFailed:    {StatusPending: RecordPaymentFailure, StatusCompleted: NoChange, StatusCancelled: NoChange, StatusRefunded: NoChange},
	TriggerRefundFull:       {StatusPending: RefundInFull, StatusCompleted: RefundInFull, StatusCancelled: RefundInFull, StatusRefunded: NoChange},
	TriggerRefundPartial:    {StatusPending: IgnorePartialRefund, StatusCompleted: IgnorePartialRefund, StatusCancelled: IgnorePartialRefund, StatusRefunded: NoChange},
	TriggerCleanup:          {StatusPending: CancelStaleFailure, StatusCompleted: NoChange, StatusCancelled: NoChange, StatusRefunded: NoChange},
	TriggerClearReview:      {StatusPending: ClearReviewFlag, StatusCompleted: ClearReviewFlag, StatusCancelled: ClearReviewFlag, StatusRefunded: ClearReviewFlag},
	TriggerMarkRefunded:     {StatusPending: RefundInFull, StatusCompleted: RefundInFull, StatusCancelled: RefundInFull, StatusRefunded: RejectAlreadyRefunded},
}

// needsEvent lists the effects that read the Stripe event.
var needsEvent = map[Effect]bool{
	CompletePayment: true, CompleteAfterCancel: true, RecordPaymentFailure: true, IgnorePartialRefund: true,
}

// Change is one request to change an order.
type Change struct {
	Trigger Trigger
	// Event is the Stripe event for the Stripe triggers; nil otherwise.
	Event *Event
	Actor Actor
	At    time.Time
	// FailedBefore is the cleanup cutoff: a payment failure at or before it is stale.
	FailedBefore time.Time
}

// TriggerForEvent maps a Stripe event to its row of the table.
func TriggerForEvent(e Event) (Trigger, error) {
	switch e.Type {
	case EventPaymentSucceeded:
		return TriggerPaymentSucceeded, nil
	case EventPaymentFailed:
		return TriggerPaymentFailed, nil
	case EventChargeRefunded:
		if e.Object.AmountRefunded >= e.Object.Amount {
			return TriggerRefundFull, nil
		}
		return TriggerRefundPartial, nil
	}
	return "", Permanentf("%w: event type %q has no transition", ErrInvalid, e.Type)
}

// Apply looks up the effect of c on o's status and performs it. It reports
// whether o changed; false means nothing must be written.
func Apply(o *Order, c Change) (bool, error) {
	row, ok := Transitions[c.Trigger]
	if !ok {
		return false, Permanentf("%w: unknown trigger %q", ErrInvalid, c.Trigger)
	}
	effect, ok := row[o.Status]
	if !ok {
		return false, Permanentf("%w: order %s has unknown status %q", ErrInvalid, o.ID, o.Status)
	}
	if c.Event != nil && o.HasApplied(c.Event.ID) {
		return false, ErrAlreadyApplied
	}
	if needsEvent[effect] && c.Event == nil {
		return false, Permanentf("%w: %s needs a Stripe event", ErrInvalid, c.Trigger)
	}
	at := c.At.UTC()
	switch effect {
	case NoChange:
		return false, nil
	case CompletePayment, CompleteAfterCancel:
		ev := *c.Event
		obj := ev.Object
		o.Status = StatusCompleted
		o.PaymentStatus = PaymentPaid
		o.StripePaymentIntentID = ev.PaymentIntentID()
		if ch := ev.ChargeID(); ch != "" {
			o.StripeChargeID = ch
		}
		received := obj.AmountReceived
		if received == 0 {
			received = obj.Amount
		}
		o.appendEntry(c, at, EntryPaymentSucceeded, map[string]any{
			"paymentIntentId": ev.PaymentIntentID(), "chargeId": ev.ChargeID(),
			"amount": received, "currency": obj.Currency,
		})
		if effect == CompleteAfterCancel {
			o.flag(c, at, ReasonPaidAfterCancel)
		} else if reason := FraudCheck(*o, obj); reason != "" {
			o.flag(c, at, reason)
		}
		return true, nil
	case RecordPaymentFailure:
		ev := *c.Event
		failedAt := ev.Created.UTC()
		o.PaymentStatus = PaymentFailed
		o.PaymentFailedAt = &failedAt
		if o.StripePaymentIntentID == "" {
			o.StripePaymentIntentID = ev.PaymentIntentID()
		}
		meta := map[string]any{"code": "", "message": ""}
		if pe := ev.Object.LastPaymentError; pe != nil {
			meta["code"], meta["message"] = pe.Code, pe.Message
		}
		o.appendEntry(c, at, EntryPaymentFailed, meta)
		return true, nil
	case RefundInFull:
		o.Status = StatusRefunded
		o.PaymentStatus = PaymentRefunded
		meta := map[string]any{"manual": true}
		if c.Event != nil {
			o.StripeChargeID = c.Event.ChargeID()
			meta = map[string]any{"chargeId": c.Event.ChargeID(), "amountRefunded": c.Event.Object.AmountRefunded}
		}
		o.appendEntry(c, at, EntryRefundFull, meta)
		return true, nil
	case IgnorePartialRefund:
		ev := *c.Event
		o.appendEntry(c, at, EntryRefundPartialIgnored, map[string]any{
			"chargeId": ev.ChargeID(), "amountRefunded": ev.Object.AmountRefunded,
		})
		return true, nil
	case CancelStaleFailure:
		if o.PaymentStatus != PaymentFailed || o.PaymentFailedAt == nil || o.PaymentFailedAt.After(c.FailedBefore) {
			return false, nil
		}
		o.Status = StatusCancelled
		o.appendEntry(c, at, EntryCleanupCancelled, map[string]any{"paymentFailedAt": o.PaymentFailedAt.UTC().Format(time.RFC3339)})
		return true, nil
	case ClearReviewFlag:
		if !o.RequiresReview {
			return false, fmt.Errorf("order %s: %w", o.ID, ErrNotFlagged)
		}
		o.RequiresReview = false
		o.ReviewReason = ""
		o.appendEntry(c, at, EntryReviewCleared, nil)
		return true, nil
	case RejectAlreadyRefunded:
		return false, fmt.Errorf("order %s: %w", o.ID, ErrAlreadyRefunded)
	}
	return false, Permanentf("%w: effect %q is not implemented", ErrInvalid, effect)
}

// FraudCheck returns the review reason for a successful payment whose intent
// does not match the order, or "" when it matches.
func FraudCheck(o Order, pi EventObject) string {
	received := pi.AmountReceived
	if received == 0 {
		received = pi.Amount
	}
	switch {
	case received != o.Amount:
		return ReasonAmountMismatch
	case pi.Currency != "" && pi.Currency != o.Currency:
		return ReasonCurrencyMismatch
	case pi.Metadata["userId"] != "" && pi.Metadata["userId"] != o.UserID:
		return ReasonUserMismatch
	}
	return ""
}

func (o *Order) flag(c Change, at time.Time, reason string) {
	o.RequiresReview = true
	o.ReviewReason = reason
	o.appendEntry(c, at, EntryReviewRequired, map[string]any{"reason": reason})
}

func (o *Order) appendEntry(c Change, at time.Time, typ string, meta map[string]any) {
	e := TimelineEntry{Type: typ, At: at, Actor: c.Actor.Name, ActorType: c.Actor.Type, ActorID: c.Actor.ID, Meta: meta}
	if c.Event != nil {
		e.EventID = c.Event.ID
	}
	o.Timeline = append(o.Timeline, e)
}
