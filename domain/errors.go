package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers branch on. Adapters wrap them with %w.
var (
	// ErrNotFound means the order (or message, or event) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a create found an order with the same id.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means a conditional write lost an optimistic-lock race.
	ErrConflict = errors.New("version conflict")
	// ErrAlreadyApplied means the Stripe event was applied to the order before.
	ErrAlreadyApplied = errors.New("event already applied")
	// ErrNotFlagged means clear-review was asked of an order that is not flagged.
	ErrNotFlagged = errors.New("not flagged for review")
	// ErrAlreadyRefunded means mark-refunded was asked of a refunded order.
	ErrAlreadyRefunded = errors.New("already refunded")
	// ErrInvalid means the input is malformed; retrying it cannot help.
	ErrInvalid = errors.New("invalid input")
)

// permanentError marks an error that no retry can fix (a malformed message, an
// unknown event type). Everything else a worker sees is treated as transient.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// Permanentf formats a permanent error.
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// IsPermanent reports whether err, or anything it wraps, was marked permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
