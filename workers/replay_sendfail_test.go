package workers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/workers"
)

// refusingQueue is the real events queue whose Send fails, as SQS does in an
// outage.
type refusingQueue struct{ domain.Queue }

var errQueueDown = errors.New("events queue unavailable")

func (refusingQueue) Send(context.Context, domain.OutgoingMessage) (string, error) {
	return "", errQueueDown
}

// TestRedriveKeepsTheMessageWhenTheSendFails proves SPEC §6's order of
// operations: delete from the DLQ only after the events queue accepted it.
func TestRedriveKeepsTheMessageWhenTheSendFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_keep", "pi_keep", nil)
	b.deadLetter(t, fixture(t, "payment_intent.succeeded.json", "keep", "ord_keep", "pi_keep"), nil)

	r, err := workers.NewReplayer(workers.ReplayConfig{
		DLQ: b.dlq, Events: refusingQueue{b.events}, Logger: b.deps.Logger,
		MaxReplays: 3, Clock: b.clock, ReceiveWait: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.Redrive(b.ctx, workers.RedriveOptions{})
	if !errors.Is(err, errQueueDown) {
		t.Fatalf("Redrive error = %v, want the send failure", err)
	}
	if sum.Moved != 0 {
		t.Fatalf("moved = %d although nothing was sent", sum.Moved)
	}
	// Still in the DLQ, visible, and not counted as replayed.
	msgs, err := b.dlq.Receive(b.ctx, 10, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("DLQ after the failed redrive: %d messages, %v", len(msgs), err)
	}
	if rc := msgs[0].Attributes[domain.AttrReplayCount]; rc != "" && rc != "0" {
		t.Fatalf("replayCount = %q after a failed send", rc)
	}
	if got := b.drain(t); len(got) != 0 {
		t.Fatalf("events queue got %d messages", len(got))
	}
}
