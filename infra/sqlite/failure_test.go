package sqlite_test

import (
	"context"
	"errors"
	"testing"

	"github.com/orderflow/orderflow/domain"
)

func TestRecordedFailureBecomesLastErrorInTheDLQ(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	mustSend(t, b.events, out("g1", "evt_1"))
	for i := 0; i < maxReceives; i++ {
		m := mustReceive(t, b.events, 1)[0]
		if err := b.events.RecordFailure(ctx, m.Receipt, "order ord_1 not found (attempt "+string(rune('1'+i))+")"); err != nil {
			t.Fatalf("RecordFailure: %v", err)
		}
		b.clock.Advance(visibility)
	}
	mustReceive(t, b.events, 0) // this receive moves it
	dead := mustReceive(t, b.dlq, 1)[0]
	if got := dead.Attributes[domain.AttrLastError]; got != "order ord_1 not found (attempt 2)" {
		t.Fatalf("lastError = %q, want the latest recorded reason", got)
	}
	if dead.Attributes[domain.AttrEventID] != "evt_1" {
		t.Fatalf("other attributes lost: %v", dead.Attributes)
	}
}

func TestRecordFailureWithStaleReceiptChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	mustSend(t, b.events, out("g1", "evt_1"))
	first := mustReceive(t, b.events, 1)[0]
	b.clock.Advance(visibility)
	mustReceive(t, b.events, 1) // received again: the first receipt is stale
	if err := b.events.RecordFailure(ctx, first.Receipt, "late"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	b.clock.Advance(visibility)
	mustReceive(t, b.events, 0)
	if got := mustReceive(t, b.dlq, 1)[0].Attributes[domain.AttrLastError]; got != "" {
		t.Fatalf("lastError = %q from a stale receipt", got)
	}
}
