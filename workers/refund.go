package workers

import (
	"context"

	"github.com/orderflow/orderflow/domain"
)

// Refunds applies charge.refunded events; domain.TriggerForEvent tells a full
// refund from a partial one, which only leaves a timeline note.
type Refunds struct{ h stripeHandler }

// NewRefunds returns the refund worker.
func NewRefunds(d Deps) *Refunds {
	return &Refunds{h: stripeHandler{deps: d.withDefaults(), types: []string{domain.EventChargeRefunded}}}
}

// Handle applies one refund event to its order.
func (r *Refunds) Handle(ctx context.Context, msg domain.Message) error { return r.h.handle(ctx, msg) }
