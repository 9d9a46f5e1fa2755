package workers

import "time"

// RetryBudget bounds the in-process retries of one message so they stay well
// inside the visibility timeout: a message is never redelivered while this
// process still works on it. With the default 30 s visibility it is 5 s.
func RetryBudget(visibility time.Duration) time.Duration {
	return min(5*time.Second, visibility/3)
}
