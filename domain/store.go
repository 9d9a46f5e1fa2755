package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Filter selects orders for listing. Empty fields match everything; the store
// answers from the index of the most selective field that is set.
type Filter struct {
	Status          Status
	UserID          string
	SellerID        string
	PaymentIntentID string
	// ChargeID has no index: stores answer it with a filtered scan, which
	// callers announce with an [orders-index-warning] log (SPEC §3).
	ChargeID string
	// OtherPaymentIntentID matches an order that recorded the intent as
	// another payment (Order.OtherPaymentIntentIDs); no index either.
	OtherPaymentIntentID string
	RequiresReview       *bool
	// IndexOnly forbids the scan a store falls back to when its index
	// cannot answer: the lookup fails instead. Hot paths that must never
	// scan the table (the download-access check, SPEC §13) set it.
	IndexOnly bool
}

// Match reports whether o passes every set field of the filter.
func (f Filter) Match(o Order) bool {
	return (f.Status == "" || o.Status == f.Status) &&
		(f.UserID == "" || o.UserID == f.UserID) &&
		(f.SellerID == "" || o.SellerID == f.SellerID) &&
		(f.PaymentIntentID == "" || o.StripePaymentIntentID == f.PaymentIntentID) &&
		(f.ChargeID == "" || o.StripeChargeID == f.ChargeID) &&
		(f.OtherPaymentIntentID == "" || slices.Contains(o.OtherPaymentIntentIDs, f.OtherPaymentIntentID)) &&
		(f.RequiresReview == nil || o.RequiresReview == *f.RequiresReview)
}

// Store keeps orders. Every change is one conditional write.
type Store interface {
	// Create writes a new order; ErrAlreadyExists if the id is taken.
	Create(ctx context.Context, o Order) error
	// Get reads an order; ErrNotFound if there is none.
	Get(ctx context.Context, id string) (Order, error)
	// Save replaces the order with o only if the stored version equals
	// expectedVersion (ErrConflict otherwise) and, when eventID is set, the
	// stored appliedEvents does not hold it (ErrAlreadyApplied otherwise).
	Save(ctx context.Context, o Order, expectedVersion int64, eventID string) error
	// List calls fn for every order that matches f, stopping at fn's first error.
	List(ctx context.Context, f Filter, fn func(Order) error) error
}

// Clock gives the time; tests inject a fixed one.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current UTC time.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// maxConflictRetries bounds re-reads after lost races; past it the conflict is
// returned as a transient error for the worker's backoff to handle.
const maxConflictRetries = 16

// Mutation changes an order in place and reports whether anything changed.
// Returning false means "no change": nothing is written.
type Mutation func(o *Order) (changed bool, err error)

// Update reads the order, applies mutate to a copy and writes it back with one
// conditional write. A lost race re-reads and re-applies; an event that another
// writer applied meanwhile is reported as no change.
func Update(ctx context.Context, s Store, clock Clock, id, eventID string, mutate Mutation) (Order, bool, error) {
	for attempt := 0; ; attempt++ {
		current, err := s.Get(ctx, id)
		if err != nil {
			return Order{}, false, err
		}
		if current.HasApplied(eventID) {
			return current, false, nil
		}
		next := current.Clone()
		changed, err := mutate(&next)
		if err != nil || !changed {
			return current, false, err
		}
		next.recordApplied(eventID)
		next.Version = current.Version + 1
		next.UpdatedAt = clock.Now().UTC()
		err = s.Save(ctx, next, current.Version, eventID)
		switch {
		case err == nil:
			return next, true, nil
		case errors.Is(err, ErrAlreadyApplied):
			return current, false, nil
		case errors.Is(err, ErrConflict) && attempt < maxConflictRetries:
			if err := ctx.Err(); err != nil {
				return Order{}, false, err
			}
			continue
		default:
			return Order{}, false, fmt.Errorf("save order %s: %w", id, err)
		}
	}
}
