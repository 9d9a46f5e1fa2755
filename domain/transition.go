package domain

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Trigger is anything that can change an order: a Stripe event (one row per
// outcome the catalogue tells apart), the cleanup schedule or an operator
// command.
type Trigger string

// Triggers, the rows of the transition table (SPEC §3).
const (
	TriggerPaymentSucceeded      Trigger = "payment_succeeded"
	TriggerPaymentFailed         Trigger = "payment_failed"
	TriggerRefundFull            Trigger = "refund_full"
	TriggerRefundPartial         Trigger = "refund_partial"
	TriggerAuthorizationReleased Trigger = "authorization_released"
	TriggerRefundFailed          Trigger = "refund_failed"
	TriggerRefundUpdated         Trigger = "refund_updated"
	TriggerDisputeOpened         Trigger = "dispute_opened"
	TriggerDisputeWon            Trigger = "dispute_won"
	TriggerDisputeLost           Trigger = "dispute_lost"
	TriggerDisputeClosed         Trigger = "dispute_closed"
	TriggerCleanup               Trigger = "cleanup"
	TriggerClearReview           Trigger = "clear_review"
	TriggerMarkRefunded          Trigger = "mark_refunded"
	TriggerRequestRefund         Trigger = "request_refund"
	TriggerLinkPaymentIntent     Trigger = "link_payment_intent"
)

// Effect is what a (trigger, status) cell does.
type Effect string

// Effects, the values of the transition table.
const (
	NoChange                Effect = "no_change"
	CompletePayment         Effect = "complete_payment"         // → completed, paid, fraud check
	CompleteAfterCancel     Effect = "complete_after_cancel"    // → completed, paid, flagged paid_after_cancel
	NoteDuplicatePayment    Effect = "note_duplicate_payment"   // another intent succeeded: timeline duplicate_payment
	ConfirmPayment          Effect = "confirm_payment"          // the success of an intent taken from a refund: records its time only
	RecordRefundTime        Effect = "record_refund_time"       // a newer full refund of a refunded payment: records its time only
	RecordPaymentFailure    Effect = "record_payment_failure"   // paymentStatus failed, paymentFailedAt
	RefundInFull            Effect = "refund_in_full"           // → refunded
	IgnorePartialRefund     Effect = "ignore_partial_refund"    // timeline note only
	NoteAuthorizationFreed  Effect = "note_authorization_freed" // timeline authorization_released only
	NoteRefundFailed        Effect = "note_refund_failed"       // timeline refund_failed only
	ReinstateAfterRefundErr Effect = "reinstate_after_refund"   // refunded → completed, paid, flagged refund_failed
	FlagDispute             Effect = "flag_dispute"             // requiresReview dispute_opened
	NoteDisputeOpened       Effect = "note_dispute_opened"      // timeline dispute_opened only
	NoteDisputeWon          Effect = "note_dispute_won"         // timeline dispute_won, clears a dispute flag
	RefundByDispute         Effect = "refund_by_dispute"        // → refunded, timeline dispute_lost
	NoteDisputeLost         Effect = "note_dispute_lost"        // timeline dispute_lost only
	NoteDisputeClosed       Effect = "note_dispute_closed"      // timeline dispute_closed (meta status)
	NoteOtherPayment        Effect = "note_other_payment"       // money of another intent: timeline other_payment
	CancelStaleFailure      Effect = "cancel_stale_failure"     // → cancelled when the failure is old enough
	ClearReviewFlag         Effect = "clear_review_flag"        // requiresReview → false
	RecordRefundRequest     Effect = "record_refund_request"    // timeline refund_requested
	LinkIntent              Effect = "link_intent"              // sets stripePaymentIntentId
	RejectAlreadyRefunded   Effect = "reject_already_refunded"
	RejectNotPaid           Effect = "reject_not_paid"
)

// Row is one row of SPEC §3's table: the effect of its trigger in each status.
type Row struct {
	Trigger Trigger
	Cells   map[Status]Effect
}

// every builds a row whose effect is the same in every status but refunded.
func every(e, refunded Effect) map[Status]Effect {
	return map[Status]Effect{StatusPending: e, StatusCompleted: e, StatusCancelled: e, StatusRefunded: refunded}
}

// Table is SPEC §3 as data: every (trigger × status) pair has an effect.
// Handlers go through Apply; nothing else edits statuses.
var Table = []Row{
	{TriggerPaymentSucceeded, map[Status]Effect{StatusPending: CompletePayment, StatusCompleted: NoteDuplicatePayment, StatusCancelled: CompleteAfterCancel, StatusRefunded: NoteDuplicatePayment}},
	{TriggerPaymentFailed, map[Status]Effect{StatusPending: RecordPaymentFailure, StatusCompleted: NoChange, StatusCancelled: NoChange, StatusRefunded: NoChange}},
	{TriggerRefundFull, every(RefundInFull, NoChange)},
	{TriggerRefundPartial, every(IgnorePartialRefund, NoChange)},
	{TriggerAuthorizationReleased, every(NoteAuthorizationFreed, NoChange)},
	{TriggerRefundFailed, every(NoteRefundFailed, ReinstateAfterRefundErr)},
	{TriggerRefundUpdated, every(NoChange, NoChange)},
	{TriggerDisputeOpened, every(FlagDispute, NoteDisputeOpened)},
	{TriggerDisputeWon, every(NoteDisputeWon, NoteDisputeWon)},
	{TriggerDisputeLost, every(RefundByDispute, NoteDisputeLost)},
	{TriggerDisputeClosed, every(NoteDisputeClosed, NoteDisputeClosed)},
	{TriggerCleanup, map[Status]Effect{StatusPending: CancelStaleFailure, StatusCompleted: NoChange, StatusCancelled: NoChange, StatusRefunded: NoChange}},
	{TriggerClearReview, every(ClearReviewFlag, ClearReviewFlag)},
	{TriggerMarkRefunded, every(RefundInFull, RejectAlreadyRefunded)},
	{TriggerRequestRefund, map[Status]Effect{StatusPending: RejectNotPaid, StatusCompleted: RecordRefundRequest, StatusCancelled: RejectNotPaid, StatusRefunded: RejectAlreadyRefunded}},
	{TriggerLinkPaymentIntent, every(LinkIntent, LinkIntent)},
}

// Transitions is Table indexed by trigger.
var Transitions = func() map[Trigger]map[Status]Effect {
	m := make(map[Trigger]map[Status]Effect, len(Table))
	for _, r := range Table {
		m[r.Trigger] = r.Cells
	}
	return m
}()

// Triggers lists every row of the table.
var Triggers = func() []Trigger {
	out := make([]Trigger, len(Table))
	for i, r := range Table {
		out[i] = r.Trigger
	}
	return out
}()

// moneyTriggers are the rows about the money of one payment: an event of
// another payment intent than the order's takes NoteOtherPayment instead
// (SPEC §3 "Which payment").
var moneyTriggers = map[Trigger]bool{
	TriggerRefundFull: true, TriggerRefundPartial: true, TriggerAuthorizationReleased: true,
	TriggerRefundFailed: true, TriggerDisputeOpened: true, TriggerDisputeWon: true,
	TriggerDisputeLost: true, TriggerDisputeClosed: true,
}

// EffectMetrics names the CloudWatch metric (SPEC §11) counted when an
// effect changes an order; effects without one count only EventsApplied.
var EffectMetrics = map[Effect]string{
	NoteDuplicatePayment:    "DuplicatePayment",
	RecordPaymentFailure:    "PaymentFailed",
	RefundInFull:            "RefundFull",
	NoteRefundFailed:        "RefundFailed",
	ReinstateAfterRefundErr: "RefundFailed",
	FlagDispute:             "DisputeOpened",
	NoteDisputeOpened:       "DisputeOpened",
	NoteDisputeWon:          "DisputeWon",
	RefundByDispute:         "DisputeLost",
	NoteDisputeLost:         "DisputeLost",
	NoteOtherPayment:        "OtherPaymentEvent",
}

// needsEvent lists the effects that read the Stripe event.
var needsEvent = map[Effect]bool{
	CompletePayment: true, CompleteAfterCancel: true, NoteDuplicatePayment: true, ConfirmPayment: true, RecordRefundTime: true, RecordPaymentFailure: true,
	IgnorePartialRefund: true, NoteAuthorizationFreed: true, NoteRefundFailed: true, ReinstateAfterRefundErr: true,
	FlagDispute: true, NoteDisputeOpened: true, NoteDisputeWon: true, RefundByDispute: true, NoteDisputeLost: true,
	NoteDisputeClosed: true, NoteOtherPayment: true,
}

// RefundRequest is what the Stripe API answered to a refund that an operator
// started (SPEC §14).
type RefundRequest struct {
	RefundID string
	Amount   int64
	Reason   string
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
	// PaymentIntentID and Force are the arguments of TriggerLinkPaymentIntent.
	PaymentIntentID string
	Force           bool
	// Refund is the argument of TriggerRequestRefund.
	Refund *RefundRequest
}

// TriggerForEvent maps a Stripe event to its row of the table through the
// catalogue.
func TriggerForEvent(e Event) (Trigger, error) {
	spec, ok := LookupEventType(e.Type)
	if !ok {
		return "", Permanentf("%w: event type %q has no transition", ErrInvalid, e.Type)
	}
	return spec.Trigger(e), nil
}

// Apply looks up the effect of c on o's status and performs it. It reports
// whether o changed; false means nothing must be written.
func Apply(o *Order, c Change) (bool, error) {
	_, changed, err := ApplyEffect(o, c)
	return changed, err
}

// EffectFor is the effect c has on o: the table's cell, except that the money
// of another payment intent becomes NoteOtherPayment (SPEC §3 "Which
// payment").
func EffectFor(o Order, c Change) (Effect, error) {
	row, ok := Transitions[c.Trigger]
	if !ok {
		return "", Permanentf("%w: unknown trigger %q", ErrInvalid, c.Trigger)
	}
	effect, ok := row[o.Status]
	if !ok {
		return "", Permanentf("%w: order %s has unknown status %q", ErrInvalid, o.ID, o.Status)
	}
	if c.Event != nil && moneyTriggers[c.Trigger] && o.isOtherPayment(*c.Event) {
		return NoteOtherPayment, nil
	}
	if effect == NoChange && c.Trigger == TriggerRefundFull && c.Event != nil && o.Status == StatusRefunded {
		// A newer full refund of an already refunded payment changes no
		// field, but its time must count: a refund failure older than it
		// must not put the order back to paid (SPEC §3 "Newest wins").
		if last, ok := o.StripeClock[clockRefund]; ok && c.Event.Created.After(last) {
			return RecordRefundTime, nil
		}
	}
	if effect == NoteDuplicatePayment && c.Event != nil && !o.isOtherPayment(*c.Event) {
		// The order's own payment succeeding again (a redelivery under a new
		// event id, or an old event arriving late) is no double charge. If
		// the order took this intent from a refund or dispute that arrived
		// first, its success now confirms it as the order's payment.
		_, confirmed := o.StripeClock[clockPayment]
		if _, adopted := o.StripeClock[clockAdopted]; adopted && !confirmed {
			return ConfirmPayment, nil
		}
		return NoChange, nil
	}
	return effect, nil
}

// isOtherPayment reports whether the event is about another payment than the
// order's: its intent differs from stripePaymentIntentId, or, for a charge
// made without an intent, its charge differs from stripeChargeId.
func (o Order) isOtherPayment(e Event) bool {
	if pi := e.PaymentIntentID(); pi != "" {
		return o.StripePaymentIntentID != "" && pi != o.StripePaymentIntentID
	}
	ch := e.ChargeID()
	return ch != "" && o.StripeChargeID != "" && ch != o.StripeChargeID
}

// ApplyEffect is Apply that also returns the effect performed, so callers
// can count EffectMetrics.
func ApplyEffect(o *Order, c Change) (Effect, bool, error) {
	effect, err := EffectFor(*o, c)
	if err != nil {
		return "", false, err
	}
	if c.Event != nil && o.HasApplied(c.Event.ID) {
		return effect, false, ErrAlreadyApplied
	}
	if needsEvent[effect] && c.Event == nil {
		return effect, false, Permanentf("%w: %s needs a Stripe event", ErrInvalid, c.Trigger)
	}
	changed, err := o.perform(effect, c)
	return effect, changed, err
}

// perform carries out one effect. Stripe-derived fields and the refund and
// dispute state of the order's payment only move forward in event time
// (SPEC §3 "Newest wins"): an older event keeps its timeline entry but is
// marked superseded and sets nothing back.
func (o *Order) perform(effect Effect, c Change) (bool, error) {
	at := c.At.UTC()
	var ev Event
	if c.Event != nil {
		ev = *c.Event
	}
	switch effect {
	case NoChange:
		return false, nil
	case CompletePayment, CompleteAfterCancel:
		prevPI := o.StripePaymentIntentID
		if _, adopted := o.StripeClock[clockAdopted]; adopted && prevPI != ev.PaymentIntentID() {
			// The intent the order took from a refund or dispute that came
			// first is not the one that paid: what its money did is another
			// payment's (SPEC §3 "Which payment").
			o.dropOtherPaymentState(c, at)
		}
		o.Status = StatusCompleted
		o.PaymentStatus = PaymentPaid
		o.StripePaymentIntentID = ev.PaymentIntentID()
		o.noteOtherIntent(prevPI)
		o.adoptCharge(ev)
		o.setClock(clockPayment, ev.Created)
		o.appendEntry(c, at, EntryPaymentSucceeded, map[string]any{
			"paymentIntentId": ev.PaymentIntentID(), "chargeId": ev.ChargeID(),
			"amount": ev.AmountReceived(), "currency": ev.Object.Currency,
		})
		if effect == CompleteAfterCancel {
			o.flag(c, at, ReasonPaidAfterCancel)
		} else if reason := FraudCheck(*o, ev.Object); reason != "" {
			o.flag(c, at, reason)
		}
		// A pending or cancelled order whose recorded intent never
		// succeeded takes this one; what its refunds and disputes did
		// before it succeeded was kept as other_payment, and counts now.
		o.countRecordedMoney(c, at, ev.PaymentIntentID())
		return true, nil
	case RecordRefundTime:
		o.setClock(clockRefund, ev.Created)
		return true, nil
	case ConfirmPayment:
		o.setClock(clockPayment, ev.Created)
		delete(o.StripeClock, clockAdopted)
		// A double charge recorded while this intent was only taken from a
		// refund or dispute: the intent that succeeded first is the payment.
		var first *TimelineEntry
		for i, e := range o.Timeline {
			if e.Type != EntryDuplicatePayment {
				continue
			}
			if t, err := time.Parse(time.RFC3339, fmt.Sprint(e.Meta["created"])); err == nil && t.Before(ev.Created) &&
				(first == nil || t.Before(mustTime(first.Meta["created"]))) {
				first = &o.Timeline[i]
			}
		}
		if first != nil {
			o.takeOlderPayment(c, at, fmt.Sprint(first.Meta["paymentIntentId"]), fmt.Sprint(first.Meta["chargeId"]), mustTime(first.Meta["created"]))
		}
		return true, nil
	case NoteDuplicatePayment:
		if last, confirmed := o.StripeClock[clockPayment]; confirmed && ev.Created.Before(last) {
			o.takeOlderPayment(c, at, ev.PaymentIntentID(), ev.ChargeID(), ev.Created)
			return true, nil
		}
		o.appendEntry(c, at, EntryDuplicatePayment, map[string]any{
			"paymentIntentId": ev.PaymentIntentID(), "chargeId": ev.ChargeID(),
			"amount": ev.AmountReceived(), "currency": ev.Object.Currency,
			"created": ev.Created.UTC().Format(time.RFC3339),
		})
		o.noteOtherIntent(ev.PaymentIntentID())
		return true, nil
	case NoteOtherPayment:
		o.noteOtherIntent(ev.PaymentIntentID())
		// The row the event would have taken and its time are kept, so
		// that if this intent turns out to be the order's first payment
		// (takeOlderPayment) its money can still count.
		o.appendEntry(c, at, EntryOtherPayment, map[string]any{
			"eventType": ev.Type, "paymentIntentId": ev.PaymentIntentID(), "chargeId": ev.ChargeID(),
			"amount": ev.Object.Amount, "trigger": string(c.Trigger), "created": ev.Created.UTC().Format(time.RFC3339),
		})
		return true, nil
	case RecordPaymentFailure:
		meta := map[string]any{"code": "", "message": ""}
		if pe := ev.Object.LastPaymentError; pe != nil {
			meta["code"], meta["message"] = pe.Code, pe.Message
		}
		failedAt := ev.Created.UTC()
		if o.PaymentFailedAt != nil && failedAt.Before(*o.PaymentFailedAt) {
			meta["superseded"] = true
		} else {
			o.PaymentStatus = PaymentFailed
			o.PaymentFailedAt = &failedAt
		}
		if o.StripePaymentIntentID == "" {
			o.StripePaymentIntentID = ev.PaymentIntentID()
		}
		o.appendEntry(c, at, EntryPaymentFailed, meta)
		return true, nil
	case RefundInFull:
		if c.Event == nil { // operator: mark-refunded
			o.Status, o.PaymentStatus = StatusRefunded, PaymentRefunded
			o.appendEntry(c, at, EntryRefundFull, map[string]any{"manual": true})
			return true, nil
		}
		meta := map[string]any{"chargeId": ev.ChargeID(), "amountRefunded": ev.Object.AmountRefunded}
		o.adoptPayment(ev)
		if o.moneyMoves(ev, clockRefund) {
			o.Status, o.PaymentStatus = StatusRefunded, PaymentRefunded
			o.adoptCharge(ev)
			o.appendEntry(c, at, EntryRefundFull, meta)
			return true, nil
		}
		meta["superseded"] = true
		o.appendEntry(c, at, EntryRefundFull, meta)
		if o.Status != StatusRefunded && !o.RequiresReview {
			// A newer failure of this refund was applied first: in Stripe's
			// order the refund, then its failure, would have flagged the
			// order (refunded → completed, requiresReview refund_failed), so
			// it is flagged now and the flag does not depend on arrival.
			o.flag(c, at, ReasonRefundFailed)
		}
		return true, nil
	case IgnorePartialRefund:
		o.appendEntry(c, at, EntryRefundPartialIgnored, map[string]any{
			"chargeId": ev.ChargeID(), "amountRefunded": ev.Object.AmountRefunded,
		})
		return true, nil
	case NoteAuthorizationFreed:
		o.appendEntry(c, at, EntryAuthorizationReleased, map[string]any{
			"chargeId": ev.ChargeID(), "amount": ev.Object.Amount,
		})
		return true, nil
	case NoteRefundFailed, ReinstateAfterRefundErr:
		meta := map[string]any{"refundId": ev.RefundID(), "amount": ev.Object.Amount, "failureReason": ev.Object.FailureReason}
		o.adoptPayment(ev)
		forward := o.moneyMoves(ev, clockRefund)
		if !forward {
			meta["superseded"] = true
		}
		if effect == ReinstateAfterRefundErr && forward {
			o.Status, o.PaymentStatus = StatusCompleted, PaymentPaid
			o.appendEntry(c, at, EntryRefundFailed, meta)
			o.flag(c, at, ReasonRefundFailed)
			return true, nil
		}
		o.appendEntry(c, at, EntryRefundFailed, meta)
		return true, nil
	case FlagDispute, NoteDisputeOpened:
		meta := map[string]any{"disputeId": ev.DisputeID(), "reason": ev.Object.Reason, "amount": ev.Object.Amount}
		o.adoptPayment(ev)
		forward := o.moneyMoves(ev, clockDispute)
		if !forward {
			meta["superseded"] = true
		}
		o.appendEntry(c, at, EntryDisputeOpened, meta)
		switch {
		case o.RequiresReview:
		case effect == FlagDispute && forward:
			o.flag(c, at, ReasonDisputeOpened)
		case !forward && o.hasEntry(EntryDisputeLost, "disputeId", ev.DisputeID()):
			// Its loss arrived first and refunded the order; in Stripe's
			// order the opening would have flagged it and the loss kept
			// the flag, so the flag does not depend on arrival either.
			o.flag(c, at, ReasonDisputeOpened)
		}
		return true, nil
	case NoteDisputeWon:
		meta := map[string]any{"disputeId": ev.DisputeID(), "amount": ev.Object.Amount}
		o.adoptPayment(ev)
		if !o.moneyMoves(ev, clockDispute) {
			meta["superseded"] = true
		}
		o.appendEntry(c, at, EntryDisputeWon, meta)
		if o.RequiresReview && o.ReviewReason == ReasonDisputeOpened && meta["superseded"] == nil {
			o.RequiresReview, o.ReviewReason = false, ""
			o.appendEntry(c, at, EntryReviewCleared, map[string]any{"reason": ReasonDisputeOpened})
		}
		return true, nil
	case RefundByDispute, NoteDisputeLost:
		meta := map[string]any{"disputeId": ev.DisputeID(), "amount": ev.Object.Amount}
		o.adoptPayment(ev)
		forwardDispute := o.moneyMoves(ev, clockDispute)
		// A lost dispute takes the money back: it is refund state too.
		forwardRefund := o.moneyMoves(ev, clockRefund)
		if effect == RefundByDispute && forwardDispute && forwardRefund {
			o.Status, o.PaymentStatus = StatusRefunded, PaymentRefunded
		} else if !forwardDispute {
			meta["superseded"] = true
		}
		o.appendEntry(c, at, EntryDisputeLost, meta)
		return true, nil
	case NoteDisputeClosed:
		o.adoptPayment(ev)
		o.moneyMoves(ev, clockDispute)
		o.appendEntry(c, at, EntryDisputeClosed, map[string]any{"disputeId": ev.DisputeID(), "status": ev.Object.Status})
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
	case RecordRefundRequest:
		if err := RefundGuard(*o); err != nil {
			return false, err
		}
		if c.Refund == nil || c.Refund.RefundID == "" {
			return false, Permanentf("%w: %s needs the refund Stripe created", ErrInvalid, c.Trigger)
		}
		o.appendEntry(c, at, EntryRefundRequested, map[string]any{
			"refundId": c.Refund.RefundID, "amount": c.Refund.Amount, "reason": c.Refund.Reason,
		})
		return true, nil
	case LinkIntent:
		pi := strings.TrimSpace(c.PaymentIntentID)
		if err := CheckPaymentIntentID(pi); err != nil {
			return false, err
		}
		previous := o.StripePaymentIntentID
		if previous == pi {
			return false, nil
		}
		if previous != "" && !c.Force {
			return false, fmt.Errorf("order %s: %w %s (use --force to replace it)", o.ID, ErrAlreadyLinked, previous)
		}
		o.StripePaymentIntentID = pi
		o.appendEntry(c, at, EntryPaymentIntentLinked, map[string]any{"paymentIntentId": pi, "previous": previous})
		return true, nil
	case RejectAlreadyRefunded:
		return false, fmt.Errorf("order %s: %w", o.ID, ErrAlreadyRefunded)
	case RejectNotPaid:
		return false, fmt.Errorf("order %s: %w", o.ID, ErrNotPaid)
	}
	return false, Permanentf("%w: effect %q is not implemented", ErrInvalid, effect)
}

// CheckPaymentIntentID rejects what cannot be a Stripe PaymentIntent id.
func CheckPaymentIntentID(pi string) error {
	if !strings.HasPrefix(pi, "pi_") || len(pi) <= len("pi_") || !ValidQueueID(pi) {
		return fmt.Errorf("%w: %q is not a Stripe payment intent id (pi_…)", ErrInvalid, pi)
	}
	return nil
}

// RefundGuard says whether an operator may start a full refund now (SPEC
// §14): only a completed, paid order with a payment intent, and not while
// the last refund orderflow requested has neither failed nor been followed
// by refund_full. A failure counts only for its own refund: Stripe sends up
// to three failure events for one refund (refund.failed, refund.updated,
// charge.refund.updated), and a late one about an older refund must not
// open the way to a second refund while a newer one is pending.
func RefundGuard(o Order) error {
	switch {
	case o.Status == StatusRefunded:
		return fmt.Errorf("order %s: %w", o.ID, ErrAlreadyRefunded)
	case o.Status != StatusCompleted || o.PaymentStatus != PaymentPaid:
		return fmt.Errorf("order %s: %w", o.ID, ErrNotPaid)
	case o.StripePaymentIntentID == "":
		return fmt.Errorf("%w: order %s has no stripePaymentIntentId to refund (link one first)", ErrInvalid, o.ID)
	}
	failed := failedRefunds(o)
	for i := len(o.Timeline) - 1; i >= 0; i-- {
		e := o.Timeline[i]
		switch e.Type {
		case EntryRefundRequested:
			if id, _ := e.Meta["refundId"].(string); id != "" && failed[id] {
				return nil
			}
			return fmt.Errorf("order %s: %w", o.ID, ErrAlreadyRefunding)
		case EntryRefundFull:
			return nil
		}
	}
	return nil
}

// failedRefunds is the set of refund ids with a refund_failed entry.
func failedRefunds(o Order) map[string]bool {
	failed := map[string]bool{}
	for _, e := range o.Timeline {
		if e.Type == EntryRefundFailed {
			if id, _ := e.Meta["refundId"].(string); id != "" {
				failed[id] = true
			}
		}
	}
	return failed
}

// RefundIdempotencyKey is the Stripe Idempotency-Key of an operator's refund
// (SPEC §14): orderflow-refund-<orderId>-<n>, n the refunds that failed so
// far (each refund once, however many failure events Stripe sent for it),
// so a retry after a crash reuses the key and a new attempt after a failed
// refund gets a new one.
func RefundIdempotencyKey(o Order) string {
	return fmt.Sprintf("orderflow-refund-%s-%d", o.ID, len(failedRefunds(o)))
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

// Keys of Order.StripeClock: the event time that last set each piece of
// Stripe-derived state.
const (
	clockRefund  = "refund"
	clockDispute = "dispute"
	clockCharge  = "charge"
	clockPayment = "payment"
	clockAdopted = "adopted"
)

// moneyMoves reports whether ev is at least as new as the last event that
// set the state named key, and if so records ev's time as the newest.
func (o *Order) moneyMoves(ev Event, key string) bool {
	t := ev.Created.UTC()
	if last, ok := o.StripeClock[key]; ok && t.Before(last) {
		return false
	}
	if o.StripeClock == nil {
		o.StripeClock = map[string]time.Time{}
	}
	o.StripeClock[key] = t
	return true
}

// takeOlderPayment handles a double charge whose first payment arrives
// last: the intent that succeeded first is the order's payment, whatever
// order Stripe delivered the two in, so the final state does not depend on
// arrival (SPEC §3 "Newest wins"). The order switches to the older intent
// and records the one it held as the duplicate. Refund and dispute state
// set so far was the other payment's money, so it no longer counts: a
// refunded order whose own (older) payment was never refunded is paid again.
func (o *Order) takeOlderPayment(c Change, at time.Time, pi, charge string, created time.Time) {
	prevPI, prevCharge := o.StripePaymentIntentID, o.StripeChargeID
	prevCreated := o.StripeClock[clockPayment]
	o.StripePaymentIntentID, o.StripeChargeID = pi, charge
	o.OtherPaymentIntentIDs = slices.DeleteFunc(o.OtherPaymentIntentIDs, func(id string) bool { return id == pi })
	o.noteOtherIntent(prevPI)
	o.setClock(clockPayment, created)
	o.setClock(clockCharge, created)
	_, refundSet := o.StripeClock[clockRefund]
	_, disputeSet := o.StripeClock[clockDispute]
	if o.Status == StatusRefunded && (refundSet || disputeSet) {
		o.Status, o.PaymentStatus = StatusCompleted, PaymentPaid
	}
	o.StripePaymentIntentID = prevPI // for the review_cleared entry's meta
	o.dropOtherPaymentState(c, at)
	o.StripePaymentIntentID = pi
	o.countRecordedMoney(c, at, pi)
	o.appendEntry(c, at, EntryDuplicatePayment, map[string]any{
		"paymentIntentId": prevPI, "chargeId": prevCharge, "amount": o.Amount, "currency": o.Currency,
		"created": prevCreated.UTC().Format(time.RFC3339), "firstPaymentIntentId": pi,
	})
}

// countRecordedMoney makes the money of intent pi that was recorded while pi
// was another payment than the order's (timeline other_payment entries, with
// their row and Stripe time) count, now that pi is the order's payment: the
// recorded refunds, refund failures and disputes are replayed in Stripe's
// time order with the table's rules, so the order ends as it would have had
// the success come first (SPEC §3 "Newest wins": the final status does not
// depend on arrival order). A refund followed by a newer failure leaves the
// payment paid and flags refund_failed; a dispute still open flags
// dispute_opened, unless the order is flagged already. No entry is written
// again: the other_payment entries stay the events' record.
func (o *Order) countRecordedMoney(c Change, at time.Time, pi string) {
	if pi == "" {
		return
	}
	type recorded struct {
		trigger Trigger
		created time.Time
	}
	var money []recorded
	for _, e := range o.Timeline {
		if e.Type == EntryOtherPayment && e.Meta["paymentIntentId"] == pi {
			money = append(money, recorded{Trigger(fmt.Sprint(e.Meta["trigger"])), mustTime(e.Meta["created"])})
		}
	}
	if len(money) == 0 {
		return
	}
	sort.SliceStable(money, func(i, j int) bool { return money[i].created.Before(money[j].created) })
	var refunded, failedAfterRefund, disputeOpen bool
	var refundAt, disputeAt time.Time
	for _, m := range money {
		switch m.trigger {
		case TriggerRefundFull:
			refunded, failedAfterRefund, refundAt = true, false, m.created
		case TriggerDisputeLost:
			refunded, failedAfterRefund, refundAt = true, false, m.created
			disputeOpen, disputeAt = false, m.created
		case TriggerRefundFailed:
			if refunded {
				refunded, failedAfterRefund = false, true
			}
			refundAt = m.created
		case TriggerDisputeOpened:
			disputeOpen, disputeAt = true, m.created
		case TriggerDisputeWon, TriggerDisputeClosed:
			disputeOpen, disputeAt = false, m.created
		}
	}
	if !refundAt.IsZero() {
		o.setClock(clockRefund, refundAt)
	}
	if !disputeAt.IsZero() {
		o.setClock(clockDispute, disputeAt)
	}
	switch {
	case refunded:
		o.Status, o.PaymentStatus = StatusRefunded, PaymentRefunded
	case failedAfterRefund && !o.RequiresReview:
		o.flag(c, at, ReasonRefundFailed)
	}
	if disputeOpen && !o.RequiresReview {
		o.flag(c, at, ReasonDisputeOpened)
	}
}

// dropOtherPaymentState forgets the refund and dispute state the order's
// current intent set, once that intent proves to be another payment than
// the order's: their clocks, and a dispute_opened or refund_failed flag they
// raised (timeline review_cleared, meta reason and paymentIntentId). The
// caller then records the new intent, and countRecordedMoney raises a flag
// again if the new payment's own recorded money says so.
func (o *Order) dropOtherPaymentState(c Change, at time.Time) {
	_, refundSet := o.StripeClock[clockRefund]
	_, disputeSet := o.StripeClock[clockDispute]
	if o.RequiresReview && ((o.ReviewReason == ReasonDisputeOpened && disputeSet) || (o.ReviewReason == ReasonRefundFailed && refundSet)) {
		reason := o.ReviewReason
		o.RequiresReview, o.ReviewReason = false, ""
		o.appendEntry(c, at, EntryReviewCleared, map[string]any{"reason": reason, "paymentIntentId": o.StripePaymentIntentID})
	}
	delete(o.StripeClock, clockRefund)
	delete(o.StripeClock, clockDispute)
	delete(o.StripeClock, clockAdopted)
}

// hasEntry reports whether the timeline has an entry of type typ whose meta
// key equals value.
func (o Order) hasEntry(typ, key string, value any) bool {
	for _, e := range o.Timeline {
		if e.Type == typ && e.Meta[key] == value {
			return true
		}
	}
	return false
}

// mustTime reads an RFC 3339 time kept in timeline meta; the zero time when
// it is not one.
func mustTime(v any) time.Time {
	t, _ := time.Parse(time.RFC3339, fmt.Sprint(v))
	return t
}

// setClock records t as the time of the event that set key.
func (o *Order) setClock(key string, t time.Time) {
	if o.StripeClock == nil {
		o.StripeClock = map[string]time.Time{}
	}
	o.StripeClock[key] = t.UTC()
}

// adoptPayment makes the event's intent the order's when the order has none
// (legacy orders found through metadata.orderId).
func (o *Order) adoptPayment(ev Event) {
	if o.StripePaymentIntentID == "" && ev.PaymentIntentID() != "" {
		o.StripePaymentIntentID = ev.PaymentIntentID()
		// Taken from a refund or dispute, not from a success: a success
		// of another intent may still prove to be the order's payment.
		o.setClock(clockAdopted, ev.Created)
	}
}

// adoptCharge sets stripeChargeId from the order's own payment, only forward
// in event time.
func (o *Order) adoptCharge(ev Event) {
	ch := ev.ChargeID()
	if ch == "" {
		return
	}
	if o.moneyMoves(ev, clockCharge) || o.StripeChargeID == "" {
		o.StripeChargeID = ch
	}
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
