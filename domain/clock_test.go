package domain_test

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

func TestManualClockMovesOnlyWhenAdvanced(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := domain.NewManualClock(start)
	if !c.Now().Equal(start) || !c.Now().Equal(start) {
		t.Fatalf("clock moved by itself: %v", c.Now())
	}
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("after Advance: %v", got)
	}
}
