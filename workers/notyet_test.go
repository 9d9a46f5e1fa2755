package workers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/workers"
)

// dispatcher builds a dispatcher on b's store, logs and DLQ with the
// production retry budget, so any in-process sleeping would show.
func (b *bundle) dispatcher(t *testing.T, edit func(*workers.Config)) *workers.Dispatcher {
	t.Helper()
	cfg := workers.Config{
		Handlers: workers.StandardHandlers(b.deps), DeadLetter: b.dlq,
		Logger: b.deps.Logger, Metrics: b.deps.Metrics, Clock: b.clock,
		RetryBudget: workers.RetryBudget(visibility), BatchTime: workers.BatchTime(visibility),
	}
	if edit != nil {
		edit(&cfg)
	}
	d, err := workers.NewDispatcher(cfg)
	if err != nil {
		t.Fatalf("NewDispatcher: %v", err)
	}
	return d
}

// notYetBodies are n payment_intent.succeeded events for orders that do not
// exist, each its own payment intent (so its own group).
func notYetBodies(t *testing.T, n int) [][]byte {
	t.Helper()
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = fixture(t, "payment_intent.succeeded.json", fmt.Sprintf("ny%02d", i), fmt.Sprintf("ord_ny%02d", i), fmt.Sprintf("pi_ny%02d", i))
	}
	return bodies
}

// Many events for orders not written yet, in the same batch as a healthy
// one: the healthy one is applied, each not-yet one is tried exactly once
// (no in-process retry, no sleep) and reported failed.
func TestNotYetIsNotRetriedInProcess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_ok", "pi_ok", nil)
	d := b.dispatcher(t, nil)
	var msgs []domain.Message
	var want []string
	for i, body := range notYetBodies(t, workers.MaxBatch-1) {
		id := fmt.Sprintf("ny%d", i)
		msgs = append(msgs, message(t, id, body, ""))
		want = append(want, id)
	}
	msgs = append(msgs, message(t, "ok", fixture(t, "payment_intent.succeeded.json", "ok", "ord_ok", "pi_ok"), ""))

	failed := d.ProcessBatch(b.ctx, msgs)
	if !slices.Equal(failed, want) {
		t.Fatalf("failed = %v, want the %d not-yet messages %v", failed, len(want), want)
	}
	if o := b.order(t, "ord_ok"); o.Status != domain.StatusCompleted {
		t.Errorf("healthy order = %s, want completed", o.Status)
	}
	if n := b.logs.FilterMessage("cannot be applied yet; returned to the queue").Len(); n != len(want) {
		t.Errorf("not-yet lines = %d, want %d (each message handled once)", n, len(want))
	}
	if n := b.logs.FilterMessage("transient failure; retrying").Len(); n != 0 {
		t.Errorf("%d in-process retries, want none for not-yet messages", n)
	}
	if got, _ := b.dlq.Receive(b.ctx, 10, 0); len(got) != 0 {
		t.Errorf("a not-yet message was dead-lettered at once; it must come back")
	}
}

// The same batch through the Lambda path: the not-yet messages are the
// BatchItemFailures, the healthy one is applied in the same invocation.
func TestHandleSQSReportsNotYetWithoutRetrying(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_ok", "pi_ok", nil)
	d := b.dispatcher(t, nil)
	var records, want []string
	for i, body := range notYetBodies(t, workers.MaxBatch-1) {
		id := fmt.Sprintf("ny%d", i)
		records = append(records, stripeRecord(t, id, body))
		want = append(want, id)
	}
	records = slices.Insert(records, 3, stripeRecord(t, "ok", fixture(t, "payment_intent.succeeded.json", "ok", "ord_ok", "pi_ok")))

	// A Lambda's context has a deadline; the batch must settle inside it.
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := d.HandleSQS(ctx, sqsEvent(t, records...))
	if err != nil {
		t.Fatalf("HandleSQS error = %v", err)
	}
	if got := failures(resp); !slices.Equal(got, want) {
		t.Fatalf("BatchItemFailures = %v, want %v", got, want)
	}
	if o := b.order(t, "ord_ok"); o.Status != domain.StatusCompleted {
		t.Errorf("healthy order = %s, want completed", o.Status)
	}
	if n := b.logs.FilterMessage("transient failure; retrying").Len(); n != 0 {
		t.Errorf("%d in-process retries, want none", n)
	}
}

// Through Run on the SQLite queue, as `orderflow serve` works: 25 not-yet
// events ahead of a healthy one (three batches). The healthy one is applied
// on its first receive; each not-yet one is returned with ChangeVisibility
// for 1 s, then 2 s on the next receive, instead of the 30 s visibility
// timeout, and a message behind one of them in its group keeps its place.
func TestRunReturnsNotYetWithGrowingDelay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_ok", "pi_ok", nil)
	b.createOrder(t, "ord_late", "pi_late", nil)
	d := b.dispatcher(t, nil)
	const notYet = 25
	sendIn := func(body []byte, group string) {
		t.Helper()
		m := message(t, "", body, group)
		if _, err := b.events.Send(b.ctx, domain.OutgoingMessage{Body: m.Body, GroupID: m.GroupID, DedupID: m.DedupID, Attributes: m.Attributes}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	send := func(body []byte) { t.Helper(); sendIn(body, "") }
	for _, body := range notYetBodies(t, notYet) {
		send(body)
	}
	// Group pi_late: an event whose order is not written yet (neither its
	// order id nor its intent names one), then one for the order that
	// exists; the first moves behind the second, which applies at once (a
	// payment's final state does not depend on order).
	sendIn(fixture(t, "payment_intent.payment_failed.json", "late1", "ord_late_missing", "pi_late_missing"), "pi_late")
	send(fixture(t, "payment_intent.succeeded.json", "late2", "ord_late", "pi_late"))
	send(fixture(t, "payment_intent.succeeded.json", "ok", "ord_ok", "pi_ok"))

	// pass runs the worker until every message of the pass has been handled
	// (the clock does not move, so nothing hidden comes back meanwhile).
	pass := func(wantNotYetLines int) {
		t.Helper()
		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx, b.events) }()
		deadline := time.Now().Add(60 * time.Second) // hang guard only
		for b.logs.FilterMessage("cannot be applied yet; returned to the queue").Len() < wantNotYetLines {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("not-yet lines = %d, want %d", b.logs.FilterMessage("cannot be applied yet; returned to the queue").Len(), wantNotYetLines)
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	}

	// late1 is not-yet twice: once with late2 behind it (moved behind its
	// group), once alone (hidden for its delay).
	pass(notYet + 2)
	if o := b.order(t, "ord_ok"); o.Status != domain.StatusCompleted {
		t.Fatalf("healthy order = %s after the first pass, want completed", o.Status)
	}
	if o := b.order(t, "ord_late"); o.Status != domain.StatusCompleted {
		t.Fatalf("ord_late = %s, want completed: the not-yet event ahead of it in its group moved behind it", o.Status)
	}
	if n := b.logs.FilterMessage("cannot be applied yet; moved behind the later messages of its group").Len(); n != 1 {
		t.Errorf("%d moves behind the group, want 1", n)
	}
	if n := b.logs.FilterMessage("transient failure; retrying").Len(); n != 0 {
		t.Errorf("%d in-process retries, want none", n)
	}
	// Nothing is visible at once; after 1 s every not-yet message is, long
	// before the 30 s visibility timeout.
	if got, err := b.events.Receive(b.ctx, 10, 0); err != nil || len(got) != 0 {
		t.Fatalf("received %d messages right after the pass (err %v), want none: not-yet ones are hidden for a delay", len(got), err)
	}
	b.clock.Advance(time.Second + time.Millisecond)
	pass(2*notYet + 3)

	// Second receive: the delay has doubled to 2 s.
	b.clock.Advance(time.Second + time.Millisecond)
	if got, err := b.events.Receive(b.ctx, 10, 0); err != nil || len(got) != 0 {
		t.Fatalf("received %d messages 1 s after the second pass (err %v), want none: the delay grows", len(got), err)
	}
	b.clock.Advance(time.Second)
	got, err := b.events.Receive(b.ctx, 10, 0)
	if err != nil || len(got) == 0 {
		t.Fatalf("received %d messages 2 s after the second pass (err %v), want the not-yet ones back", len(got), err)
	}
	for _, m := range got {
		if m.ReceiveCount != 3 {
			t.Errorf("message %s receiveCount = %d, want 3", eventIDOf(m), m.ReceiveCount)
		}
	}

	// Once its order exists, the moved event applies too.
	b.createOrder(t, "ord_late_missing", "pi_late_missing", nil)
	b.clock.Advance(time.Hour)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, b.events) }()
	deadline := time.Now().Add(60 * time.Second) // hang guard only
	for len(b.order(t, "ord_late_missing").Timeline) == 0 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("the moved event was never applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if o := b.order(t, "ord_late_missing"); len(o.Timeline) != 1 || o.Timeline[0].Type != domain.EntryPaymentFailed {
		t.Errorf("ord_late_missing timeline = %v, want the payment failure applied", timelineTypes(o))
	}
}

func eventIDOf(m domain.Message) string { return m.Attributes[domain.AttrEventID] }

// failingSend is a queue whose Send always fails.
type failingSend struct{ domain.Queue }

func (failingSend) Send(context.Context, domain.OutgoingMessage) (string, error) {
	return "", errors.New("sqs: send: connection reset")
}

// The Lambda path with the events queue to send to (Config.Events): a
// not-yet event with a later event of its group in the batch is sent again
// behind it and acknowledged, and the later one is applied in the same
// invocation; a not-yet event alone in its group is reported failed as
// before. When the send fails, the not-yet event is reported failed.
func TestHandleSQSMovesNotYetBehindItsGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		sendFail bool
		want     []string
	}{
		{name: "moved behind its group", want: []string{"alone"}},
		{name: "the send fails", sendFail: true, want: []string{"late1", "alone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.createOrder(t, "ord_late", "pi_late", nil)
			d := b.dispatcher(t, func(c *workers.Config) {
				c.Events = b.events
				if tc.sendFail {
					c.Events = failingSend{b.events}
				}
			})
			late1 := fixture(t, "payment_intent.payment_failed.json", "late1", "ord_late_missing", "pi_late_missing")
			records := []string{
				stripeRecordIn(t, "late1", late1, "pi_late"),
				stripeRecord(t, "alone", fixture(t, "payment_intent.succeeded.json", "alone", "ord_alone", "pi_alone")),
				stripeRecord(t, "late2", fixture(t, "payment_intent.succeeded.json", "late2", "ord_late", "pi_late")),
			}
			ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
			defer cancel()
			resp, err := d.HandleSQS(ctx, sqsEvent(t, records...))
			if err != nil {
				t.Fatalf("HandleSQS error = %v", err)
			}
			if got := failures(resp); !slices.Equal(got, tc.want) {
				t.Fatalf("BatchItemFailures = %v, want %v", got, tc.want)
			}
			if o := b.order(t, "ord_late"); o.Status != domain.StatusCompleted {
				t.Errorf("ord_late = %s, want completed: the not-yet event ahead of it did not hold it", o.Status)
			}
			moved, err := b.events.Receive(b.ctx, 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.sendFail {
				if len(moved) != 0 {
					t.Errorf("the failing send queued %d messages", len(moved))
				}
				return
			}
			if len(moved) != 1 {
				t.Fatalf("events queue holds %d messages, want late1 sent again behind its group", len(moved))
			}
			m := moved[0]
			if m.GroupID != "pi_late" || !strings.HasSuffix(m.DedupID, "#later-1") || m.Attributes["laterCount"] != "1" || string(m.Body) != string(late1) {
				t.Errorf("moved message = group %q dedup %q laterCount %q, body equal %v; want group pi_late, dedup <event>#later-1, laterCount 1, late1's body",
					m.GroupID, m.DedupID, m.Attributes["laterCount"], string(m.Body) == string(late1))
			}
		})
	}
}
