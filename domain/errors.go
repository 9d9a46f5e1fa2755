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
	// ErrNotPaid means a refund was asked of an order that was never paid.
	ErrNotPaid = errors.New("not paid")
	// ErrAlreadyRefunding means a refund was asked while one is pending.
	ErrAlreadyRefunding = errors.New("already refunding")
	// ErrAlreadyLinked means the order has another payment intent.
	ErrAlreadyLinked = errors.New("already linked to payment intent")
	// ErrMessageTooLarge means a queue refused a message over SQS's size
	// limit (body and attributes); adapters wrap it together with ErrInvalid.
	ErrMessageTooLarge = errors.New("message too large for the queue")
	// ErrInvalid means the input is malformed; retrying it cannot help.
	ErrInvalid = errors.New("invalid input")
	// ErrNotConfigured: the action needs a setting this deployment lacks
	// (a Stripe secret key for refunds and replays); retrying cannot help
	// until an operator sets it.
	ErrNotConfigured = errors.New("not configured")
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

// Kind says what a failure asks of the worker that met it (STYLE "errors that
// steer"; river's JobSnooze/JobCancel, upspin's error kinds). The dispatcher
// decides with KindOf, never by matching messages.
type Kind int

// Kinds of failure, from the most hopeful to the least.
const (
	// KindTransient: throttling, network, a backend briefly down. Retry with
	// backoff in process, then let the queue redeliver.
	KindTransient Kind = iota
	// KindNotYet: the event cannot be applied yet (its order is not written).
	// Retrying in process cannot help; return it to the queue at once with a
	// growing delay so it does not hold a worker.
	KindNotYet
	// KindConflict: a lost optimistic-lock race; re-read and re-apply at once.
	KindConflict
	// KindPermanent: malformed input or a rule that rejects it; no retry can
	// help, dead-letter at once.
	KindPermanent
)

// String names the kind for logs and lastError.
func (k Kind) String() string {
	switch k {
	case KindNotYet:
		return "not-yet"
	case KindConflict:
		return "conflict"
	case KindPermanent:
		return "permanent"
	}
	return "transient"
}

// notYetError marks an error that only time can fix.
type notYetError struct{ err error }

func (e notYetError) Error() string { return e.err.Error() }
func (e notYetError) Unwrap() error { return e.err }

// NotYet marks err as "cannot be applied yet": the dispatcher returns the
// message to the queue with a delay instead of retrying in process.
func NotYet(err error) error {
	if err == nil {
		return nil
	}
	return notYetError{err: err}
}

// KindOf classifies err: permanent when marked so or wrapping ErrInvalid,
// not-yet when marked so, conflict when it wraps ErrConflict, else transient.
func KindOf(err error) Kind {
	var ny notYetError
	switch {
	case err == nil:
		return KindTransient
	case IsPermanent(err) || errors.Is(err, ErrInvalid):
		return KindPermanent
	case errors.As(err, &ny):
		return KindNotYet
	case errors.Is(err, ErrConflict):
		return KindConflict
	}
	return KindTransient
}
