package workers

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/domain"
)

// BackfillSummary is what `orderflow orders backfill-payment-intents` did (or,
// in a dry run, would do).
type BackfillSummary struct {
	// Scanned is every order read.
	Scanned int `json:"scanned"`
	// Updated is the orders whose stripePaymentIntentId was set.
	Updated int `json:"updated"`
	// Skipped is the orders without the field whose timeline does not know
	// the payment intent either, so there is nothing to copy.
	Skipped int `json:"skipped"`
}

// Backfill sets stripePaymentIntentId on every order that lacks it but whose
// timeline has a payment_succeeded entry naming the payment intent (playbook
// §7): orders written before the field was kept are otherwise invisible to
// PaymentIntentIndex, so events without metadata.orderId cannot find them.
//
// Every order is read (a scan on DynamoDB): an order without the field is by
// definition absent from the sparse PaymentIntentIndex, so no index can list
// the candidates. This is a one-off repair, not a hot path. progress, when
// set, is called with the number of orders scanned so far.
//
// No timeline entry is written: the timeline records what happened to the
// order, and the payment already has its entry, the very one the id is copied
// from. The backfill only copies a recorded fact into an indexed attribute;
// the version still moves on, so a concurrent writer conflicts and re-reads.
func Backfill(ctx context.Context, store domain.Store, clock domain.Clock, dryRun bool, progress func(done int)) (BackfillSummary, error) {
	if clock == nil {
		clock = domain.SystemClock{}
	}
	var sum BackfillSummary
	err := store.List(ctx, domain.Filter{}, func(o domain.Order) error {
		sum.Scanned++
		if progress != nil {
			defer progress(sum.Scanned)
		}
		if o.StripePaymentIntentID != "" {
			return nil
		}
		pi := succeededPaymentIntent(o)
		if pi == "" {
			sum.Skipped++
			return nil
		}
		if dryRun {
			sum.Updated++
			return nil
		}
		_, changed, err := domain.Update(ctx, store, clock, o.ID, "", func(cur *domain.Order) (bool, error) {
			// Re-checked on the fresh copy: an event may have set it meanwhile.
			if cur.StripePaymentIntentID != "" {
				return false, nil
			}
			cur.StripePaymentIntentID = pi
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("backfill order %s: %w", o.ID, err)
		}
		if changed {
			sum.Updated++
		}
		return nil
	})
	return sum, err
}

// succeededPaymentIntent is the paymentIntentId in the newest
// payment_succeeded entry of the timeline, or "".
func succeededPaymentIntent(o domain.Order) string {
	for i := len(o.Timeline) - 1; i >= 0; i-- {
		e := o.Timeline[i]
		if e.Type != domain.EntryPaymentSucceeded {
			continue
		}
		if pi, ok := e.Meta["paymentIntentId"].(string); ok && pi != "" {
			return pi
		}
	}
	return ""
}
