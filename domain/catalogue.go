package domain

import "slices"

// EventType declares one accepted Stripe event type: the kind of its
// data.object (which says where its payment intent and charge are) and the
// row of the transition table it selects. The ingress's accepted list, the
// dispatcher's handlers, TriggerForEvent and the metric names all derive
// from Catalogue; adding a type is one entry here plus its table row.
type EventType struct {
	// Type is Stripe's event type, e.g. "charge.refunded".
	Type string
	// Object is the kind of data.object: payment_intent, charge, refund or
	// dispute.
	Object string
	// Triggers are every row the type can select; Trigger picks one.
	Triggers []Trigger
	// Trigger selects the row for one event of this type.
	Trigger func(Event) Trigger
}

// Catalogue is every Stripe event type orderflow accepts (SPEC §4), in the
// order of SPEC §3's table.
var Catalogue = []EventType{
	{Type: EventPaymentSucceeded, Object: objectPaymentIntent, Triggers: []Trigger{TriggerPaymentSucceeded},
		Trigger: func(Event) Trigger { return TriggerPaymentSucceeded }},
	{Type: EventPaymentFailed, Object: objectPaymentIntent, Triggers: []Trigger{TriggerPaymentFailed},
		Trigger: func(Event) Trigger { return TriggerPaymentFailed }},
	{Type: EventChargeRefunded, Object: objectCharge,
		Triggers: []Trigger{TriggerRefundFull, TriggerRefundPartial, TriggerAuthorizationReleased},
		Trigger:  refundTrigger},
	{Type: EventChargeRefundUpdated, Object: objectRefund, Triggers: []Trigger{TriggerRefundFailed, TriggerRefundUpdated},
		Trigger: refundStatusTrigger},
	{Type: EventRefundUpdated, Object: objectRefund, Triggers: []Trigger{TriggerRefundFailed, TriggerRefundUpdated},
		Trigger: refundStatusTrigger},
	{Type: EventRefundFailed, Object: objectRefund, Triggers: []Trigger{TriggerRefundFailed},
		Trigger: func(Event) Trigger { return TriggerRefundFailed }},
	{Type: EventDisputeCreated, Object: objectDispute, Triggers: []Trigger{TriggerDisputeOpened},
		Trigger: func(Event) Trigger { return TriggerDisputeOpened }},
	{Type: EventDisputeClosed, Object: objectDispute,
		Triggers: []Trigger{TriggerDisputeWon, TriggerDisputeLost, TriggerDisputeClosed},
		Trigger:  disputeClosedTrigger},
}

// refundTrigger tells a full refund from a partial one and from a released
// authorisation (SPEC §3 "Full, partial, nothing captured").
func refundTrigger(e Event) Trigger {
	captured := e.AmountCaptured()
	switch {
	case captured == 0:
		return TriggerAuthorizationReleased
	case e.Object.Refunded || e.Object.AmountRefunded >= captured:
		return TriggerRefundFull
	}
	return TriggerRefundPartial
}

// refundStatusTrigger: only a failed refund changes anything; other statuses
// are news that charge.refunded already carries.
func refundStatusTrigger(e Event) Trigger {
	if e.Object.Status == refundStatusFailed {
		return TriggerRefundFailed
	}
	return TriggerRefundUpdated
}

func disputeClosedTrigger(e Event) Trigger {
	switch e.Object.Status {
	case disputeStatusWon:
		return TriggerDisputeWon
	case disputeStatusLost:
		return TriggerDisputeLost
	}
	return TriggerDisputeClosed
}

// LookupEventType returns the catalogue entry of a Stripe event type.
func LookupEventType(eventType string) (EventType, bool) {
	i := slices.IndexFunc(Catalogue, func(t EventType) bool { return t.Type == eventType })
	if i < 0 {
		return EventType{}, false
	}
	return Catalogue[i], true
}

// AcceptedEventTypes lists the catalogued types, to register in the Stripe
// dashboard's webhook endpoint.
func AcceptedEventTypes() []string {
	out := make([]string, len(Catalogue))
	for i, t := range Catalogue {
		out[i] = t.Type
	}
	return out
}

// IsAccepted reports whether the ingress should enqueue events of this type.
func IsAccepted(eventType string) bool {
	_, ok := LookupEventType(eventType)
	return ok
}
