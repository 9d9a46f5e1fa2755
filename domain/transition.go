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
		if o.paymentTentative() {
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
	unpaid := o.Status == StatusPending || o.Status == StatusCancelled
	changed, err := o.perform(effect, c)
	if err == nil && changed && unpaid && c.Event != nil && moneyTriggers[c.Trigger] && effect != NoteOtherPayment {
		// The money of an intent moved on an order that was not paid yet:
		// the intent is the order's only until a success says which intent
		// paid (paymentTentative). An order imported as paid (completed,
		// no recorded success) never becomes tentative.
		if _, confirmed := o.StripeClock[clockPayment]; !confirmed && o.StripePaymentIntentID == c.Event.PaymentIntentID() {
			o.setClock(clockAdopted, c.Event.Created)
		}
	}
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
		prevPI := o.takePayment(c, at, ev)
		if effect == CompleteAfterCancel {
			o.flag(c, at, ReasonPaidAfterCancel)
		} else if reason := FraudCheck(*o, ev.Object); reason != "" {
			o.flag(c, at, reason)
		}
		if prevPI != "" && prevPI != ev.PaymentIntentID() {
			// A pending or cancelled order whose recorded intent never
			// succeeded takes this one (SPEC §3 "Which payment"): the money
			// state follows this intent's recorded money, not the other's.
			o.recomputeMoney(c, at, ev.PaymentIntentID(), prevPI)
		}
		return true, nil
	case RecordRefundTime:
		// Recorded (meta alreadyRefunded) so recomputeMoney can replay it.
		o.moneyMoves(ev, c.Trigger, clockRefund)
		o.appendEntry(c, at, EntryRefundFull, map[string]any{
			"chargeId": ev.ChargeID(), "amountRefunded": ev.Object.AmountRefunded, "alreadyRefunded": true,
		})
		return true, nil
	case ConfirmPayment:
		// The order's intent (taken from a refund, dispute or failure that
		// came first, or written with the order) succeeds after its money
		// already moved: record the success, as Stripe's order would have.
		o.setClock(clockPayment, ev.Created)
		delete(o.StripeClock, clockAdopted)
		o.adoptCharge(ev)
		o.recordSuccess(c, at, ev)
		o.flagFraud(c, at, ev)
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
		last := o.StripeClock[clockPayment]
		if o.paymentTentative() {
			// The order's intent never succeeded (its money moved first):
			// this intent is the order's payment, the other one's money
			// another payment's (SPEC §3 "Which payment").
			prevPI := o.takePayment(c, at, ev)
			o.flagFraud(c, at, ev)
			o.recomputeMoney(c, at, ev.PaymentIntentID(), prevPI)
			return true, nil
		}
		if ev.Created.Before(last) || (ev.Created.Equal(last) && ev.PaymentIntentID() < o.StripePaymentIntentID) {
			// The intent that succeeded first is the payment; in the same
			// second (Stripe's resolution), the smaller id, so the choice
			// never depends on arrival.
			o.takeOlderPayment(c, at, ev.PaymentIntentID(), ev.ChargeID(), ev.Created)
			o.flagFraud(c, at, ev) // the payment's own check, as its success first would have run it
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
		if o.moneyMoves(ev, c.Trigger, clockRefund) {
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
		forward := o.moneyMoves(ev, c.Trigger, clockRefund)
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
		forward := o.moneyMoves(ev, c.Trigger, clockDispute)
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
		if !o.moneyMoves(ev, c.Trigger, clockDispute) {
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
		forwardDispute := o.moneyMoves(ev, c.Trigger, clockDispute)
		// A lost dispute takes the money back: it is refund state too.
		forwardRefund := o.moneyMoves(ev, c.Trigger, clockRefund)
		if effect == RefundByDispute && forwardDispute && forwardRefund {
			o.Status, o.PaymentStatus = StatusRefunded, PaymentRefunded
		} else if !forwardDispute {
			meta["superseded"] = true
		}
		o.appendEntry(c, at, EntryDisputeLost, meta)
		return true, nil
	case NoteDisputeClosed:
		o.adoptPayment(ev)
		o.moneyMoves(ev, c.Trigger, clockDispute)
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
func (o *Order) moneyMoves(ev Event, trig Trigger, key string) bool {
	t := moneyTime(ev.Created, trig)
	if last, ok := o.StripeClock[key]; ok && t.Before(last) {
		return false
	}
	if o.StripeClock == nil {
		o.StripeClock = map[string]time.Time{}
	}
	o.StripeClock[key] = t
	return true
}

// PaidBy reports whether pi succeeded as this order's payment (a success of
// it was applied, not only a refund, dispute or failure).
func (o Order) PaidBy(pi string) bool {
	_, confirmed := o.StripeClock[clockPayment]
	return pi != "" && o.StripePaymentIntentID == pi && confirmed
}

// paymentTentative reports whether the order's intent has not succeeded yet
// but its money already moved (a refund, dispute or failure came first, and
// the order took or kept that intent): a success of that intent confirms it
// (ConfirmPayment); a success of another intent replaces it. An order
// imported as completed, with no recorded money, is not tentative.
func (o Order) paymentTentative() bool {
	if _, confirmed := o.StripeClock[clockPayment]; confirmed {
		return false
	}
	_, tentative := o.StripeClock[clockAdopted]
	return tentative
}

// moneyTime is the time an event of trig counts at: its created time, which
// Stripe gives in whole seconds, plus a few nanoseconds that order the events
// of one second as they must have happened: a refund's failure after the
// refund, a dispute's closing after its opening. So two events of the same
// second do not take effect in arrival order.
func moneyTime(created time.Time, trig Trigger) time.Time {
	rank := 0
	switch trig {
	case TriggerRefundFailed, TriggerDisputeWon, TriggerDisputeLost, TriggerDisputeClosed:
		rank = 1
	}
	return created.UTC().Add(time.Duration(rank))
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
	o.recomputeMoney(c, at, pi, prevPI)
	o.appendEntry(c, at, EntryDuplicatePayment, map[string]any{
		"paymentIntentId": prevPI, "chargeId": prevCharge, "amount": o.Amount, "currency": o.Currency,
		"created": prevCreated.UTC().Format(time.RFC3339), "firstPaymentIntentId": pi,
	})
}

// takePayment makes ev's intent the order's payment: completed and paid,
// its intent and charge (the charge taken outright when the intent replaces
// another one, else only forward in time), the success's time and its
// payment_succeeded entry; a replaced intent is kept as another payment. It
// returns the intent the order held before. Flags and the money state are
// the callers' (the order between them matters).
func (o *Order) takePayment(c Change, at time.Time, ev Event) (prevPI string) {
	prevPI = o.StripePaymentIntentID
	o.Status, o.PaymentStatus = StatusCompleted, PaymentPaid
	o.StripePaymentIntentID = ev.PaymentIntentID()
	o.noteOtherIntent(prevPI)
	if prevPI != "" && prevPI != ev.PaymentIntentID() {
		o.StripeChargeID = ev.ChargeID()
		o.setClock(clockCharge, ev.Created)
	} else {
		o.adoptCharge(ev)
	}
	o.setClock(clockPayment, ev.Created)
	o.recordSuccess(c, at, ev)
	return prevPI
}

// recordSuccess writes the payment_succeeded entry of ev (SPEC §3 meta).
func (o *Order) recordSuccess(c Change, at time.Time, ev Event) {
	o.appendEntry(c, at, EntryPaymentSucceeded, map[string]any{
		"paymentIntentId": ev.PaymentIntentID(), "chargeId": ev.ChargeID(),
		"amount": ev.AmountReceived(), "currency": ev.Object.Currency,
	})
}

// flagFraud runs the fraud check on ev's payment unless the order is flagged
// already.
func (o *Order) flagFraud(c Change, at time.Time, ev Event) {
	if reason := FraudCheck(*o, ev.Object); reason != "" && !o.RequiresReview {
		o.flag(c, at, reason)
	}
}

// recomputeMoney sets the order's refund and dispute state, and the review
// flag they raise, from the recorded money of pi, once pi has become the
// order's payment in place of prevPI (a success of another intent, or an
// older one taking over). Every money entry carries its intent, row and
// Stripe time (appendEntry), whether it was applied as the order's own money
// or kept as other_payment; they are replayed in Stripe's time order with the
// table's rules, so the order ends as it would have had the events come in
// order (SPEC §3 "Newest wins"): refunded by a full refund or a lost dispute
// not followed by a failure; flagged refund_failed by a failure after a
// refund, dispute_opened by an opening not followed by a win. A flag raised
// otherwise (the fraud check, paid after cancel) is kept as it is. Entries
// written before entries carried their time are not replayed.
func (o *Order) recomputeMoney(c Change, at time.Time, pi, prevPI string) {
	type recorded struct {
		trigger Trigger
		at      time.Time
	}
	var money []recorded
	seen := map[string]bool{}
	for _, e := range o.Timeline {
		trig := Trigger(fmt.Sprint(e.Meta["trigger"]))
		created := mustTime(e.Meta["created"])
		if !moneyEntries[e.Type] || e.Meta["paymentIntentId"] != pi || !moneyTriggers[trig] || created.IsZero() || seen[e.EventID+string(trig)] {
			continue
		}
		seen[e.EventID+string(trig)] = true
		money = append(money, recorded{trig, moneyTime(created, trig)})
	}
	sort.SliceStable(money, func(i, j int) bool { return money[i].at.Before(money[j].at) })

	delete(o.StripeClock, clockRefund)
	delete(o.StripeClock, clockDispute)
	delete(o.StripeClock, clockAdopted)
	refunded, flag := false, ""
	for _, m := range money {
		switch m.trigger {
		case TriggerRefundFull:
			refunded = true
			o.setClock(clockRefund, m.at)
		case TriggerDisputeLost:
			refunded = true
			o.setClock(clockRefund, m.at)
			o.setClock(clockDispute, m.at)
		case TriggerRefundFailed:
			if refunded && flag == "" {
				flag = ReasonRefundFailed
			}
			refunded = false
			o.setClock(clockRefund, m.at)
		case TriggerDisputeOpened:
			if !refunded && flag == "" {
				flag = ReasonDisputeOpened
			}
			o.setClock(clockDispute, m.at)
		case TriggerDisputeWon:
			if flag == ReasonDisputeOpened {
				flag = ""
			}
			o.setClock(clockDispute, m.at)
		case TriggerDisputeClosed:
			o.setClock(clockDispute, m.at)
		}
	}
	// An operator's word is not Stripe's to undo: a refund marked by hand
	// stays, and a flag an operator cleared is not raised again.
	if o.hasEntry(EntryRefundFull, "manual", true) {
		refunded = true
	}
	if flag != "" && o.clearedByOperator() {
		flag = ""
	}
	if refunded {
		o.Status, o.PaymentStatus = StatusRefunded, PaymentRefunded
	} else {
		o.Status, o.PaymentStatus = StatusCompleted, PaymentPaid
	}
	moneyFlag := o.RequiresReview && (o.ReviewReason == ReasonDisputeOpened || o.ReviewReason == ReasonRefundFailed)
	if o.RequiresReview && !moneyFlag {
		return // flagged for another reason: the money does not change it
	}
	if moneyFlag && o.ReviewReason != flag {
		// Raised by the other intent's money, which is not the order's.
		reason := o.ReviewReason
		o.RequiresReview, o.ReviewReason = false, ""
		o.appendEntry(c, at, EntryReviewCleared, map[string]any{"reason": reason, "paymentIntentId": prevPI})
	}
	if flag != "" && !o.RequiresReview {
		o.flag(c, at, flag)
	}
}

// moneyEntries are the timeline entries that record a payment's money; each
// carries meta paymentIntentId, trigger and created (appendEntry).
var moneyEntries = map[string]bool{
	EntryRefundFull: true, EntryRefundFailed: true, EntryDisputeOpened: true, EntryDisputeWon: true,
	EntryDisputeLost: true, EntryDisputeClosed: true, EntryOtherPayment: true,
}

// clearedByOperator reports whether an operator ever cleared the order's
// review flag.
func (o Order) clearedByOperator() bool {
	for _, e := range o.Timeline {
		if e.Type == EntryReviewCleared && e.Actor == ActorAdminName {
			return true
		}
	}
	return false
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
		// Taken from a refund or dispute, not from a success: on an unpaid
		// order a success of another intent may still prove to be its
		// payment (ApplyEffect marks it tentative); a legacy order imported
		// as paid keeps it.
	}
}

// adoptCharge sets stripeChargeId from the order's own payment, only forward
// in event time.
func (o *Order) adoptCharge(ev Event) {
	ch := ev.ChargeID()
	if ch == "" {
		return
	}
	if o.moneyMoves(ev, "", clockCharge) || o.StripeChargeID == "" {
		o.StripeChargeID = ch
	}
}

func (o *Order) flag(c Change, at time.Time, reason string) {
	o.RequiresReview = true
	o.ReviewReason = reason
	o.appendEntry(c, at, EntryReviewRequired, map[string]any{"reason": reason})
}

func (o *Order) appendEntry(c Change, at time.Time, typ string, meta map[string]any) {
	if c.Event != nil && moneyEntries[typ] && moneyTriggers[c.Trigger] {
		// What recomputeMoney needs to replay this entry if its intent
		// becomes the order's payment later: whose money, which row, when.
		if meta == nil {
			meta = map[string]any{}
		}
		for k, v := range map[string]any{
			"paymentIntentId": c.Event.PaymentIntentID(), "trigger": string(c.Trigger),
			"created": c.Event.Created.UTC().Format(time.RFC3339),
		} {
			if _, set := meta[k]; !set {
				meta[k] = v
			}
		}
	}
	e := TimelineEntry{Type: typ, At: at, Actor: c.Actor.Name, ActorType: c.Actor.Type, ActorID: c.Actor.ID, Meta: meta}
	if c.Event != nil {
		e.EventID = c.Event.ID
	}
	o.Timeline = append(o.Timeline, e)
}
