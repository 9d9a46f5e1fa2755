package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Status is the lifecycle state of an order.
type Status string

// Order statuses (SPEC §2).
const (
	StatusPending   Status = "pending"
	StatusCompleted Status = "completed"
	StatusCancelled Status = "cancelled"
	StatusRefunded  Status = "refunded"
)

// Statuses lists every status, in lifecycle order; tests walk it to cover the
// whole transition table.
var Statuses = []Status{StatusPending, StatusCompleted, StatusCancelled, StatusRefunded}

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// PaymentStatus is the state of the order's payment as Stripe reported it.
type PaymentStatus string

// Payment statuses (SPEC §2).
const (
	PaymentPending  PaymentStatus = "pending"
	PaymentPaid     PaymentStatus = "paid"
	PaymentFailed   PaymentStatus = "failed"
	PaymentRefunded PaymentStatus = "refunded"
)

// Valid reports whether p is one of the four payment statuses.
func (p PaymentStatus) Valid() bool {
	switch p {
	case PaymentPending, PaymentPaid, PaymentFailed, PaymentRefunded:
		return true
	}
	return false
}

// Timeline entry types written by the transitions.
const (
	EntryPaymentSucceeded      = "payment_succeeded"
	EntryPaymentFailed         = "payment_failed"
	EntryRefundFull            = "refund_full"
	EntryRefundPartialIgnored  = "refund_partial_ignored"
	EntryReviewRequired        = "review_required"
	EntryReviewCleared         = "review_cleared"
	EntryCleanupCancelled      = "cleanup_cancelled"
	EntryDuplicatePayment      = "duplicate_payment"
	EntryOtherPayment          = "other_payment"
	EntryAuthorizationReleased = "authorization_released"
	EntryRefundFailed          = "refund_failed"
	EntryDisputeOpened         = "dispute_opened"
	EntryDisputeWon            = "dispute_won"
	EntryDisputeLost           = "dispute_lost"
	EntryDisputeClosed         = "dispute_closed"
	EntryRefundRequested       = "refund_requested"
	EntryPaymentIntentLinked   = "payment_intent_linked"
)

// Review reasons set by the fraud check and the paid-after-cancel rule.
const (
	ReasonAmountMismatch   = "amount_mismatch"
	ReasonCurrencyMismatch = "currency_mismatch"
	ReasonUserMismatch     = "user_mismatch"
	ReasonPaidAfterCancel  = "paid_after_cancel"
	ReasonRefundFailed     = "refund_failed"
	ReasonDisputeOpened    = "dispute_opened"
)

// MaxAppliedEvents bounds appliedEvents so an order item stays far below
// DynamoDB's 400 KB limit; the timeline still guards older events.
const MaxAppliedEvents = 100

// Actor says who caused a timeline entry.
type Actor struct {
	Name string // "stripe", "admin" or "system"
	Type string // "system" or "user"
	ID   string // the admin's id for operator actions
}

// Actors used by the three sources of change (SPEC §2).
var (
	ActorStripe = Actor{Name: "stripe", Type: "system"}
	ActorSystem = Actor{Name: "system", Type: "system"}
)

// Admin is the actor for an operator command.
func Admin(adminID string) Actor { return Actor{Name: ActorAdminName, Type: "user", ID: adminID} }

// ActorAdminName is the timeline actor of operator actions.
const ActorAdminName = "admin"

// TimelineEntry is one immutable line of an order's history.
type TimelineEntry struct {
	Type      string         `json:"type"`
	At        time.Time      `json:"at"`
	Actor     string         `json:"actor"`
	ActorType string         `json:"actorType"`
	ActorID   string         `json:"actorId,omitempty"`
	EventID   string         `json:"eventId,omitempty"`
	Meta      map[string]any `json:"meta,omitempty"`
}

// Order is the order record of SPEC §2; JSON names are also the DynamoDB
// attribute names.
type Order struct {
	ID                    string          `json:"id"`
	UserID                string          `json:"userId"`
	SellerID              string          `json:"sellerId"`
	ProductID             string          `json:"productId"`
	Amount                int64           `json:"amount"`
	Currency              string          `json:"currency"`
	Status                Status          `json:"status"`
	PaymentStatus         PaymentStatus   `json:"paymentStatus"`
	RequiresReview        bool            `json:"requiresReview"`
	ReviewReason          string          `json:"reviewReason"`
	StripePaymentIntentID string          `json:"stripePaymentIntentId,omitempty"`
	StripeChargeID        string          `json:"stripeChargeId,omitempty"`
	PaymentFailedAt       *time.Time      `json:"paymentFailedAt,omitempty"`
	Timeline              []TimelineEntry `json:"timeline"`
	CreatedAt             time.Time       `json:"createdAt"`
	UpdatedAt             time.Time       `json:"updatedAt"`
	Version               int64           `json:"version"`
	AppliedEvents         []string        `json:"appliedEvents,omitempty"`
	// StripeClock keeps, per piece of Stripe-derived state (charge, refund,
	// dispute), the created time of the event that last set it, so an older
	// event delivered late never sets it back (SPEC §3 "Newest wins").
	StripeClock map[string]time.Time `json:"stripeClock,omitempty"`
	// OtherPaymentIntentIDs are the intents of other payments recorded for
	// this order (a double charge's second intent, the intent it held before
	// an older payment took over, an intent whose money was recorded as
	// other_payment). Refund and dispute objects carry no metadata.orderId,
	// so their events find the order through this list (a filtered scan,
	// announced with [orders-index-warning]) when PaymentIntentIndex, which
	// knows only the order's own intent, cannot (SPEC §3 "Which payment").
	OtherPaymentIntentIDs []string `json:"otherPaymentIntentIds,omitempty"`
}

// noteOtherIntent adds pi to OtherPaymentIntentIDs once; never the order's
// own intent or "".
func (o *Order) noteOtherIntent(pi string) {
	if pi == "" || pi == o.StripePaymentIntentID || slices.Contains(o.OtherPaymentIntentIDs, pi) {
		return
	}
	o.OtherPaymentIntentIDs = append(o.OtherPaymentIntentIDs, pi)
}

// Clone returns a deep copy, so a transition can be tried on a copy and
// thrown away when the conditional write loses a race.
func (o Order) Clone() Order {
	c := o
	c.Timeline = make([]TimelineEntry, len(o.Timeline))
	for i, e := range o.Timeline {
		if e.Meta != nil {
			m := make(map[string]any, len(e.Meta))
			for k, v := range e.Meta {
				m[k] = v
			}
			e.Meta = m
		}
		c.Timeline[i] = e
	}
	c.AppliedEvents = slices.Clone(o.AppliedEvents)
	c.StripeClock = maps.Clone(o.StripeClock)
	c.OtherPaymentIntentIDs = slices.Clone(o.OtherPaymentIntentIDs)
	if o.PaymentFailedAt != nil {
		t := *o.PaymentFailedAt
		c.PaymentFailedAt = &t
	}
	return c
}

// HasApplied reports whether the Stripe event already changed this order. The
// timeline is checked too because appliedEvents is bounded.
func (o Order) HasApplied(eventID string) bool {
	if eventID == "" {
		return false
	}
	if slices.Contains(o.AppliedEvents, eventID) {
		return true
	}
	for _, e := range o.Timeline {
		if e.EventID == eventID {
			return true
		}
	}
	return false
}

// NewOrder fills the defaults of a freshly created order and validates it.
func NewOrder(o Order, now time.Time) (Order, error) {
	if o.Status == "" {
		o.Status = StatusPending
	}
	if o.PaymentStatus == "" {
		o.PaymentStatus = PaymentPending
	}
	o.Currency = strings.ToLower(o.Currency)
	now = now.UTC()
	if o.CreatedAt.IsZero() {
		o.CreatedAt = now
	}
	o.CreatedAt = o.CreatedAt.UTC()
	o.UpdatedAt = now
	if o.Timeline == nil {
		o.Timeline = []TimelineEntry{}
	}
	if o.Version < 1 {
		o.Version = 1
	}
	return o, o.Validate()
}

// Validate reports every problem with the record at once.
func (o Order) Validate() error {
	var problems []string
	// Ids are keys: id of the table, userId and sellerId of UserIndex and
	// SellerIndex. DynamoDB refuses a partition key value over 2,048 bytes
	// and a sort key value over 1,024 (Amazon DynamoDB Developer Guide,
	// "Constraints in Amazon DynamoDB", "Partition keys and sort keys"), and
	// SQLite has no limit, so without a bound of our own the backends would
	// disagree; 1,024 fits either kind of key. Invisible characters are
	// refused because an id that prints like another is a different key:
	// control characters, and the Unicode bidi controls that reorder what
	// a terminal shows (the "Trojan Source" set).
	const maxIDBytes = 1024
	checkID := func(field, id string, required bool) {
		var why string
		switch {
		case id == "":
			if required {
				problems = append(problems, field+" is required")
			}
			return
		case len(id) > maxIDBytes:
			why = fmt.Sprintf("is %d bytes, more than %d", len(id), maxIDBytes)
		case strings.ToValidUTF8(id, "") != id:
			why = "is not valid UTF-8"
		case strings.TrimSpace(id) != id:
			why = "has leading or trailing space"
		default:
			for _, r := range id {
				switch {
				case r < 0x20 || r >= 0x7f && r < 0xa0: // C0, DEL and C1, as unicode.IsControl
					why = fmt.Sprintf("holds control character %U", r)
				case r == '\u061C', r == '\u200E', r == '\u200F', r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
					why = fmt.Sprintf("holds bidi control %U", r)
				case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
					// The rest of the invisible kind: zero-width space and
					// joiners, BOM, soft hyphen, tag characters, line and
					// paragraph separators.
					why = fmt.Sprintf("holds invisible character %U", r)
				}
				if why != "" {
					break
				}
			}
		}
		if why != "" {
			problems = append(problems, field+" "+why)
		}
	}
	checkID("id", o.ID, true)
	checkID("userId", o.UserID, true)
	// Optional: an order may not know its seller or product yet.
	checkID("sellerId", o.SellerID, false)
	checkID("productId", o.ProductID, false)
	if o.Amount < 0 {
		problems = append(problems, "amount must not be negative")
	}
	if len(o.Currency) != 3 || strings.ToLower(o.Currency) != o.Currency {
		problems = append(problems, "currency must be a lowercase 3-letter ISO code")
	}
	if !o.Status.Valid() {
		problems = append(problems, fmt.Sprintf("status %q is not one of pending, completed, cancelled, refunded", o.Status))
	}
	if !o.PaymentStatus.Valid() {
		problems = append(problems, fmt.Sprintf("paymentStatus %q is not one of pending, paid, failed, refunded", o.PaymentStatus))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: order: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// recordApplied remembers eventID, keeping only the newest MaxAppliedEvents.
func (o *Order) recordApplied(eventID string) {
	if eventID == "" || slices.Contains(o.AppliedEvents, eventID) {
		return
	}
	o.AppliedEvents = append(o.AppliedEvents, eventID)
	if n := len(o.AppliedEvents); n > MaxAppliedEvents {
		o.AppliedEvents = slices.Clone(o.AppliedEvents[n-MaxAppliedEvents:])
	}
}

// SortAppliedEvents puts appliedEvents back in the order the events were
// applied, using the timeline. Stores that keep the field as an unordered set
// (a DynamoDB string set) call it after reading so trimming keeps the newest.
func (o *Order) SortAppliedEvents() {
	pos := make(map[string]int, len(o.Timeline))
	for i, e := range o.Timeline {
		if e.EventID != "" {
			pos[e.EventID] = i + 1
		}
	}
	slices.SortStableFunc(o.AppliedEvents, func(a, b string) int { return pos[a] - pos[b] })
}
