package workers

import (
	"testing"
	"time"
)

func TestNotYetDelayGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	cases := []struct {
		receiveCount int
		want         time.Duration
	}{
		{0, time.Second}, // not known (a queue without counts): the base
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{6, 32 * time.Second},
		{7, time.Minute}, // 64 s capped
		{1000, time.Minute},
	}
	for _, tc := range cases {
		if got := notYetDelay(tc.receiveCount, time.Second, time.Minute); got != tc.want {
			t.Errorf("notYetDelay(%d) = %s, want %s", tc.receiveCount, got, tc.want)
		}
	}
}
