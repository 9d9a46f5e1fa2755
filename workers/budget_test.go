package workers_test

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/workers"
)

func TestRetryBudgetStaysInsideVisibility(t *testing.T) {
	t.Parallel()
	cases := []struct{ visibility, want time.Duration }{
		{30 * time.Second, 5 * time.Second},
		{180 * time.Second, 5 * time.Second},
		{6 * time.Second, 2 * time.Second},
		{time.Second, time.Second / 3},
	}
	for _, tc := range cases {
		if got := workers.RetryBudget(tc.visibility); got != tc.want {
			t.Errorf("RetryBudget(%s) = %s, want %s", tc.visibility, got, tc.want)
		}
	}
}
