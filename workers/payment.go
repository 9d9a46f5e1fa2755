package workers

import (
	"context"

	"github.com/orderflow/orderflow/domain"
)

// Payments applies payment_intent.succeeded (with the fraud check) and
// payment_intent.payment_failed events.
type Payments struct{ h stripeHandler }

// NewPayments returns the payment worker.
func NewPayments(d Deps) *Payments {
	return &Payments{h: stripeHandler{deps: d.withDefaults(), types: []string{domain.EventPaymentSucceeded, domain.EventPaymentFailed}}}
}

// Handle applies one payment event to its order.
func (p *Payments) Handle(ctx context.Context, msg domain.Message) error { return p.h.handle(ctx, msg) }
