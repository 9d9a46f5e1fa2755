package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Stripe event types orderflow acts on, and the scheduled cleanup type. The
// catalogue (catalogue.go) is the one place that says what each one does.
const (
	EventPaymentSucceeded    = "payment_intent.succeeded"
	EventPaymentFailed       = "payment_intent.payment_failed"
	EventChargeRefunded      = "charge.refunded"
	EventChargeRefundUpdated = "charge.refund.updated"
	EventRefundUpdated       = "refund.updated"
	EventRefundFailed        = "refund.failed"
	EventDisputeCreated      = "charge.dispute.created"
	EventDisputeClosed       = "charge.dispute.closed"
	EventCleanupRun          = "cleanup.run"
	objectPaymentIntent      = "payment_intent"
	objectCharge             = "charge"
	objectRefund             = "refund"
	objectDispute            = "dispute"
	refundStatusFailed       = "failed"
	disputeStatusWon         = "won"
	disputeStatusLost        = "lost"
	maxEventIDLen            = 255
	metadataOrderID          = "orderId"
)

// Event is a Stripe event as the domain needs it. Only the fields orderflow
// uses are read, each from every place it has had in the API versions from
// 2020-08-27 to the newest (SPEC §3 "API versions"), so any of them parses.
type Event struct {
	ID         string
	Type       string
	Created    time.Time
	APIVersion string
	// Livemode is the event's livemode flag (SPEC §3 "Live and test mode").
	Livemode bool
	Object   EventObject
}

// EventObject is data.object of an accepted event: a PaymentIntent, a Charge,
// a Refund or a Dispute. Fields that an object kind lacks stay zero.
type EventObject struct {
	ID             string `json:"id"`
	Object         string `json:"object"`
	Amount         int64  `json:"amount"`
	AmountReceived int64  `json:"amount_received"`
	AmountRefunded int64  `json:"amount_refunded"`
	// AmountCaptured is the charge's amount_captured; nil where the API
	// version or object does not carry it (then Amount was captured).
	AmountCaptured *int64 `json:"amount_captured"`
	// Captured is the charge's captured flag; nil when absent.
	Captured *bool             `json:"captured"`
	Refunded bool              `json:"refunded"`
	Currency string            `json:"currency"`
	Metadata map[string]string `json:"metadata"`
	// PaymentIntent is the payment_intent field of a charge, refund or dispute.
	PaymentIntent Expandable `json:"payment_intent"`
	// Charge is the charge field of a refund or dispute.
	Charge Expandable `json:"charge"`
	// LatestCharge is a PaymentIntent's charge from API 2022-11-15 on.
	LatestCharge Expandable `json:"latest_charge"`
	// Charges is a PaymentIntent's charge list before API 2022-11-15.
	Charges          *chargeList   `json:"charges"`
	LastPaymentError *PaymentError `json:"last_payment_error"`
	// Status is a refund's (pending, succeeded, failed, canceled,
	// requires_action) or a dispute's (warning_needs_response, needs_response,
	// under_review, won, lost, warning_closed, …) status.
	Status string `json:"status"`
	// Reason is a dispute's or refund's reason.
	Reason string `json:"reason"`
	// FailureReason is a failed refund's failure_reason.
	FailureReason string `json:"failure_reason"`
}

type chargeList struct {
	Data []struct {
		ID string `json:"id"`
	} `json:"data"`
}

// PaymentError is the last_payment_error of a failed PaymentIntent.
type PaymentError struct {
	Code        string `json:"code"`
	DeclineCode string `json:"decline_code"`
	Message     string `json:"message"`
}

// Expandable is a Stripe id field that is either an id string or, when the
// API expanded it, an object with an id; it reads that is either an id string or, when the
// API expanded it, an object with an id.
type Expandable string

func (e *Expandable) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*e = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*e = Expandable(s)
	default:
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return err
		}
		*e = Expandable(obj.ID)
	}
	return nil
}

type rawEvent struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	Created    int64  `json:"created"`
	APIVersion string `json:"api_version"`
	Livemode   bool   `json:"livemode"`
	Data       struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// ParseEvent reads a Stripe event from its raw JSON. It fails with ErrInvalid
// (a permanent error: a retry cannot fix the bytes) when they are not a Stripe
// event: no id, no type, no data.object, or, for a catalogued type, an object
// without its id or of another kind than the type declares.
func ParseEvent(raw []byte) (Event, error) {
	var r rawEvent
	if err := decodeEventJSON(raw, &r); err != nil {
		return Event{}, Permanent(fmt.Errorf("%w: event is not JSON: %v", ErrInvalid, err))
	}
	var problems []string
	if r.ID == "" {
		problems = append(problems, "no id")
	} else if len(r.ID) > maxEventIDLen {
		problems = append(problems, fmt.Sprintf("id is %d bytes, more than %d", len(r.ID), maxEventIDLen))
	}
	if r.Object != "" && r.Object != "event" {
		problems = append(problems, fmt.Sprintf("object is %q, not \"event\"", r.Object))
	}
	if r.Type == "" {
		problems = append(problems, "no type")
	}
	obj := bytes.TrimSpace(r.Data.Object)
	if len(obj) == 0 || obj[0] != '{' {
		problems = append(problems, "no data.object")
	}
	if len(problems) > 0 {
		return Event{}, Permanent(fmt.Errorf("%w: not a Stripe event: %s", ErrInvalid, strings.Join(problems, ", ")))
	}
	ev := Event{ID: r.ID, Type: r.Type, APIVersion: r.APIVersion, Livemode: r.Livemode, Created: time.Unix(r.Created, 0).UTC()}
	if err := decodeEventJSON(obj, &ev.Object); err != nil {
		return Event{}, Permanent(fmt.Errorf("%w: event %s: data.object: %v", ErrInvalid, r.ID, err))
	}
	ev.Object.Currency = strings.ToLower(ev.Object.Currency)
	if spec, ok := LookupEventType(ev.Type); ok {
		// What a handled event needs to be applied at all; missing, it can
		// never be, so it is refused now (400) instead of dead-lettered.
		switch {
		case ev.Object.ID == "":
			return Event{}, Permanent(fmt.Errorf("%w: event %s (%s): data.object has no id", ErrInvalid, ev.ID, ev.Type))
		case ev.Object.Object != "" && ev.Object.Object != spec.Object:
			return Event{}, Permanent(fmt.Errorf("%w: event %s (%s): data.object is a %q, want a %q", ErrInvalid, ev.ID, ev.Type, ev.Object.Object, spec.Object))
		case r.Created <= 0:
			// "Newest wins" orders a payment's events by created.
			return Event{}, Permanent(fmt.Errorf("%w: event %s (%s) has no created time", ErrInvalid, ev.ID, ev.Type))
		case ev.OrderID() == "" && ev.PaymentIntentID() == "" && ev.ChargeID() == "":
			return Event{}, Permanent(fmt.Errorf("%w: event %s (%s) names no order, payment intent or charge to apply it to", ErrInvalid, ev.ID, ev.Type))
		}
	}
	return ev, nil
}

// decodeEventJSON is the one JSON decoder for Stripe bodies: strict
// (DecodeStrict), so a signed body with an added "TYPE" or a repeated key is
// refused rather than read differently than Stripe's own libraries read it.
func decodeEventJSON(data []byte, v any) error { return DecodeStrict(data, v) }

// objectKind is the kind of data.object: the catalogue's word for the type,
// else the object's own "object" field.
func (e Event) objectKind() string {
	if spec, ok := LookupEventType(e.Type); ok {
		return spec.Object
	}
	return e.Object.Object
}

// AboutPaymentIntent reports whether the event's object is a PaymentIntent
// (a success or failure), not the money of a payment (charge, refund,
// dispute).
func (e Event) AboutPaymentIntent() bool { return e.objectKind() == objectPaymentIntent }

// PaymentIntentID is the payment intent the event is about: the object itself
// for a PaymentIntent, its payment_intent field for a charge, refund or
// dispute ("" when Stripe sent null, as for charges made without one).
func (e Event) PaymentIntentID() string {
	if e.objectKind() == objectPaymentIntent {
		return e.Object.ID
	}
	return string(e.Object.PaymentIntent)
}

// ChargeID is the charge the event is about: the object of a charge event,
// the charge field of a refund or dispute, and a PaymentIntent's
// latest_charge (API 2022-11-15 on) or first charges.data entry (before).
func (e Event) ChargeID() string {
	switch e.objectKind() {
	case objectCharge:
		return e.Object.ID
	case objectRefund, objectDispute:
		return string(e.Object.Charge)
	case objectPaymentIntent:
		if e.Object.LatestCharge != "" {
			return string(e.Object.LatestCharge)
		}
		if e.Object.Charges != nil && len(e.Object.Charges.Data) > 0 {
			return e.Object.Charges.Data[0].ID
		}
	}
	return ""
}

// RefundID is the refund of a refund event, else "".
func (e Event) RefundID() string {
	if e.objectKind() == objectRefund {
		return e.Object.ID
	}
	return ""
}

// DisputeID is the dispute of a dispute event, else "" (never the charge).
func (e Event) DisputeID() string {
	if e.objectKind() == objectDispute {
		return e.Object.ID
	}
	return ""
}

// AmountCaptured is the money a charge moved: 0 when it captured nothing
// (captured false), else amount_captured where the API version has it, else
// amount (SPEC §3 "Full, partial, nothing captured").
func (e Event) AmountCaptured() int64 {
	o := e.Object
	if o.Captured != nil && !*o.Captured {
		return 0
	}
	if o.AmountCaptured != nil {
		return *o.AmountCaptured
	}
	return o.Amount
}

// AmountReceived is what a successful PaymentIntent collected:
// amount_received, else amount.
func (e Event) AmountReceived() int64 {
	if e.Object.AmountReceived != 0 {
		return e.Object.AmountReceived
	}
	return e.Object.Amount
}

// OrderID is metadata.orderId on the event's object, if set.
func (e Event) OrderID() string { return e.Object.Metadata[metadataOrderID] }

// GroupID is the FIFO message group before normalisation: the payment
// intent, else the order, else the object, so every event about one payment
// is applied in order (SPEC §4). Route makes it a valid SQS id.
func (e Event) GroupID() string {
	if pi := e.PaymentIntentID(); pi != "" {
		return pi
	}
	if id := e.OrderID(); id != "" {
		return id
	}
	return e.Object.ID
}

// Route builds the queue message for an event exactly as the ingress
// enqueues it, with ids made valid for SQS (SPEC §4); replay and reconcile
// use it too, so an event lands in one group with one dedup id however it
// arrives.
func Route(ev Event, raw []byte, source string) OutgoingMessage {
	return OutgoingMessage{
		// Cloned because the caller's buffer may be reused; the body must stay
		// the exact bytes Stripe signed.
		Body:    append([]byte(nil), raw...),
		GroupID: ev.GroupID(),
		DedupID: ev.ID,
		Attributes: map[string]string{
			AttrEventType: ev.Type,
			AttrEventID:   ev.ID,
			AttrSource:    source,
		},
	}.NormalizeIDs()
}
