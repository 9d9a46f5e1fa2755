package workers

import (
	"context"
	"time"
)

// RetryBudget bounds the in-process retries of transient errors in one batch
// so they stay well inside the visibility timeout: a message is never
// redelivered while this process still works on it. With the default 30 s
// visibility it is 5 s. The budget is shared by every message of the batch,
// so many failing messages cost it once, not once each.
func RetryBudget(visibility time.Duration) time.Duration {
	return min(5*time.Second, visibility/3)
}

// BatchTime bounds one whole batch: after it no message of the batch is
// started and handlers in progress are cancelled, so the batch is settled
// (deleted, or returned to the queue) with half the visibility timeout still
// to spare. With the default 30 s visibility it is 15 s.
func BatchTime(visibility time.Duration) time.Duration {
	return visibility / 2
}

// notYetDelay is how long a message that cannot be applied yet stays hidden
// before its next receive: base·2^(receiveCount-1), at most limit. It grows
// so that an order that never appears costs a few cheap receives on the way
// to the DLQ, while one written a moment late is picked up within a second.
func notYetDelay(receiveCount int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < receiveCount && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

type retryDeadlineKey struct{}

// withRetryDeadline sets the time by which every in-process retry of the
// batch must have started; Retry reads it.
func withRetryDeadline(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, retryDeadlineKey{}, t)
}

// retryDeadline is the earlier of the batch's retry deadline and ctx's own
// deadline (on Lambda, the invocation's less a margin).
func retryDeadline(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(retryDeadlineKey{}).(time.Time)
	if d, has := ctx.Deadline(); has && (!ok || d.Before(t)) {
		return d, true
	}
	return t, ok
}
