package domain

import (
	"fmt"
	"slices"
	"testing"
)

func TestRecordAppliedKeepsNewest(t *testing.T) {
	t.Parallel()
	var o Order
	for i := 0; i < MaxAppliedEvents+7; i++ {
		o.recordApplied(fmt.Sprintf("evt_%03d", i))
		o.Timeline = append(o.Timeline, TimelineEntry{EventID: fmt.Sprintf("evt_%03d", i)})
	}
	o.recordApplied("evt_050") // already present: no duplicate
	if len(o.AppliedEvents) != MaxAppliedEvents {
		t.Fatalf("len = %d, want %d", len(o.AppliedEvents), MaxAppliedEvents)
	}
	if o.AppliedEvents[0] != "evt_007" || o.AppliedEvents[MaxAppliedEvents-1] != fmt.Sprintf("evt_%03d", MaxAppliedEvents+6) {
		t.Fatalf("kept %s … %s", o.AppliedEvents[0], o.AppliedEvents[len(o.AppliedEvents)-1])
	}
	// Trimmed events stay recognised through the timeline.
	if !o.HasApplied("evt_000") {
		t.Fatal("trimmed event no longer recognised as applied")
	}
	want := slices.Clone(o.AppliedEvents)
	slices.Reverse(o.AppliedEvents)
	o.SortAppliedEvents()
	if !slices.Equal(o.AppliedEvents, want) {
		t.Fatalf("SortAppliedEvents did not restore timeline order: %v", o.AppliedEvents[:3])
	}
}
