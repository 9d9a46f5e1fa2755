package workers_test

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/workers"
)

func TestRunProcessesDeletesAndDrainsOnCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	finishedLive := make(chan bool, 1)
	slow := workers.HandlerFunc(func(ctx context.Context, msg domain.Message) error {
		close(started)
		<-release
		finishedLive <- ctx.Err() == nil
		return nil
	})
	b := setup(t, setupOpts{extra: map[string]workers.Handler{"test.slow": slow}})
	b.createOrder(t, "ord_r1", "pi_r1", nil)
	b.createOrder(t, "ord_r2", "pi_r2", nil)
	for _, body := range [][]byte{
		fixture(t, "payment_intent.succeeded.json", "r1", "ord_r1", "pi_r1"),
		fixture(t, "payment_intent.succeeded.json", "r2", "ord_r2", "pi_r2"),
	} {
		if _, err := b.events.Send(b.ctx, outgoing(t, body)); err != nil {
			t.Fatalf("send: %v", err)
		}
	}

	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.disp.Run(ctx, b.events) }()

	// Wait (generously) for both events to be applied, then put a slow
	// message in hand and cancel while it is being handled.
	deadline := time.Now().Add(30 * time.Second)
	for b.order(t, "ord_r1").Status != domain.StatusCompleted || b.order(t, "ord_r2").Status != domain.StatusCompleted {
		if time.Now().After(deadline) {
			t.Fatal("events not applied by Run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := b.events.Send(b.ctx, domain.OutgoingMessage{Body: []byte(`{}`), GroupID: "slow", DedupID: "slow-1",
		Attributes: map[string]string{domain.AttrEventType: "test.slow"}}); err != nil {
		t.Fatalf("send slow: %v", err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("slow message never handled")
	}
	cancel()
	close(release)

	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !<-finishedLive {
		t.Error("the batch in hand ran with a cancelled context; Run must drain it")
	}
	// Everything processed was deleted: nothing comes back after the
	// visibility timeout.
	b.clock.Advance(10 * visibility)
	if got, err := b.events.Receive(b.ctx, 10, 0); err != nil || len(got) != 0 {
		t.Errorf("queue still holds %d messages (err %v), want all deleted", len(got), err)
	}
}
