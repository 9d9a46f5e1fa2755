package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Stripe event types orderflow acts on, and the scheduled cleanup type.
const (
	EventPaymentSucceeded = "payment_intent.succeeded"
	EventPaymentFailed    = "payment_intent.payment_failed"
	EventChargeRefunded   = "charge.refunded"
	EventCleanupRun       = "cleanup.run"
)

// AcceptedEventTypes are the Stripe event types the ingress enqueues; any
// other type is acknowledged and ignored.
var AcceptedEventTypes = []string{EventPaymentSucceeded, EventPaymentFailed, EventChargeRefunded}

// IsAccepted reports whether the ingress should enqueue events of this type.
func IsAccepted(eventType string) bool {
	for _, t := range AcceptedEventTypes {
		if t == eventType {
			return true
		}
	}
	return false
}

// Event is a Stripe event as the domain needs it. Only the fields orderflow
// uses are read, so any API version that still carries them parses.
type Event struct {
	ID         string
	Type       string
	Created    time.Time
	APIVersion string
	Object     EventObject
}

// EventObject is data.object of a payment_intent.* or charge.* event.
type EventObject struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Amount           int64             `json:"amount"`
	AmountReceived   int64             `json:"amount_received"`
	AmountRefunded   int64             `json:"amount_refunded"`
	Currency         string            `json:"currency"`
	Metadata         map[string]string `json:"metadata"`
	PaymentIntent    expandable        `json:"payment_intent"`
	LatestCharge     expandable        `json:"latest_charge"`
	LastPaymentError *PaymentError     `json:"last_payment_error"`
}

// PaymentError is the last_payment_error of a failed PaymentIntent.
type PaymentError struct {
	Code        string `json:"code"`
	DeclineCode string `json:"decline_code"`
	Message     string `json:"message"`
}

// expandable reads a Stripe field that is either an id string or, when the
// API expanded it, an object with an id.
type expandable string

func (e *expandable) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*e = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*e = expandable(s)
	default:
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return err
		}
		*e = expandable(obj.ID)
	}
	return nil
}

type rawEvent struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	Created    int64  `json:"created"`
	APIVersion string `json:"api_version"`
	Data       struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// ParseEvent reads a Stripe event from its raw JSON. It fails with ErrInvalid
// when the bytes are not a Stripe event: no id, no type or no data.object.
func ParseEvent(raw []byte) (Event, error) {
	var r rawEvent
	if err := json.Unmarshal(raw, &r); err != nil {
		return Event{}, fmt.Errorf("%w: event is not JSON: %v", ErrInvalid, err)
	}
	var problems []string
	if r.ID == "" {
		problems = append(problems, "no id")
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
		return Event{}, fmt.Errorf("%w: not a Stripe event: %s", ErrInvalid, strings.Join(problems, ", "))
	}
	ev := Event{ID: r.ID, Type: r.Type, APIVersion: r.APIVersion, Created: time.Unix(r.Created, 0).UTC()}
	if err := json.Unmarshal(obj, &ev.Object); err != nil {
		return Event{}, fmt.Errorf("%w: event %s: data.object: %v", ErrInvalid, r.ID, err)
	}
	ev.Object.Currency = strings.ToLower(ev.Object.Currency)
	return ev, nil
}

// PaymentIntentID is the payment intent the event is about: the object itself
// for payment_intent.* events, the payment_intent field for charges.
func (e Event) PaymentIntentID() string {
	if strings.HasPrefix(e.Type, "payment_intent.") || e.Object.Object == "payment_intent" {
		return e.Object.ID
	}
	return string(e.Object.PaymentIntent)
}

// ChargeID is the charge the event is about, if any.
func (e Event) ChargeID() string {
	if e.Object.Object == "charge" || strings.HasPrefix(e.Type, "charge.") {
		return e.Object.ID
	}
	return string(e.Object.LatestCharge)
}

// OrderID is metadata.orderId on the event's object, if set.
func (e Event) OrderID() string { return e.Object.Metadata["orderId"] }

// GroupID is the FIFO message group: the payment intent, else the order, else
// the object, so every event about one payment is applied in order.
func (e Event) GroupID() string {
	if pi := e.PaymentIntentID(); pi != "" {
		return pi
	}
	if id := e.OrderID(); id != "" {
		return id
	}
	return e.Object.ID
}
