package workers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/metrics"
	"github.com/orderflow/orderflow/infra/sqlite"
	"github.com/orderflow/orderflow/workers"
)

// deadLetter puts an event into the bundle's DLQ as the queue's redrive or the
// dispatcher would leave it: original group, dedup id and attributes, plus
// the given extra attributes.
func (b *bundle) deadLetter(t *testing.T, body []byte, extra map[string]string) {
	t.Helper()
	out := outgoing(t, body)
	for k, v := range extra {
		out.Attributes[k] = v
	}
	if _, err := b.dlq.Send(b.ctx, out); err != nil {
		t.Fatalf("send to DLQ: %v", err)
	}
}

func (b *bundle) replayer(t *testing.T, maxReplays int) *workers.Replayer {
	t.Helper()
	r, err := workers.NewReplayer(workers.ReplayConfig{
		DLQ: b.dlq, Events: b.events, Logger: b.deps.Logger, Metrics: b.deps.Metrics,
		MaxReplays: maxReplays, Clock: b.clock, ReceiveWait: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("NewReplayer: %v", err)
	}
	return r
}

func (b *bundle) dlqStats(t *testing.T) domain.QueueStats {
	t.Helper()
	st, err := b.dlq.Stats(b.ctx)
	if err != nil {
		t.Fatalf("DLQ stats: %v", err)
	}
	return st
}

// drain receives everything on the events queue.
func (b *bundle) drain(t *testing.T) []domain.Message {
	t.Helper()
	var all []domain.Message
	for {
		msgs, err := b.events.Receive(b.ctx, 10, 0)
		if err != nil {
			t.Fatalf("receive events: %v", err)
		}
		if len(msgs) == 0 {
			return all
		}
		for _, m := range msgs {
			all = append(all, m)
			if err := b.events.Delete(b.ctx, m.Receipt); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
}

func TestRedriveMovesKeepingGroupBodyAndAttributes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := fixture(t, "payment_intent.succeeded.json", "mv", "ord_mv", "pi_mv")
	b.deadLetter(t, body, map[string]string{domain.AttrLastError: "order not found", "custom": "kept"})

	sum, err := b.replayer(t, 3).Redrive(b.ctx, workers.RedriveOptions{})
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if sum != (workers.RedriveSummary{Moved: 1, Parked: 0, Remaining: 0}) {
		t.Fatalf("summary = %+v", sum)
	}
	got := b.drain(t)
	if len(got) != 1 {
		t.Fatalf("events queue holds %d messages, want 1", len(got))
	}
	m := got[0]
	if string(m.Body) != string(body) || m.GroupID != "pi_mv" || m.DedupID != "evt_mv_pi_succeeded#replay-1" {
		t.Fatalf("moved message: group %q dedup %q body equal %v", m.GroupID, m.DedupID, string(m.Body) == string(body))
	}
	want := map[string]string{
		domain.AttrEventType: domain.EventPaymentSucceeded, domain.AttrEventID: "evt_mv_pi_succeeded",
		domain.AttrSource: domain.SourceReplay, domain.AttrReplayCount: "1", "custom": "kept",
	}
	if fmt.Sprint(m.Attributes) != fmt.Sprint(want) {
		t.Fatalf("attributes = %v, want %v (lastError must not travel back)", m.Attributes, want)
	}
	if st := b.dlqStats(t); st.Visible+st.InFlight != 0 {
		t.Fatalf("DLQ still holds %+v", st)
	}
	if n := b.metricCount(metrics.DLQMoved); n != 1 {
		t.Fatalf("DLQMoved lines = %d, want 1", n)
	}
}

func TestRedriveParksTypesDryRunAndLimit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts workers.RedriveOptions
		want workers.RedriveSummary
		// moved lists the event ids expected on the events queue.
		moved []string
	}{
		{"all", workers.RedriveOptions{}, workers.RedriveSummary{Moved: 3, Parked: 1, Remaining: 1}, []string{"evt_a_pi_succeeded", "evt_b_pi_failed", "evt_c_charge_refunded"}},
		{"type filter", workers.RedriveOptions{Type: domain.EventChargeRefunded}, workers.RedriveSummary{Moved: 1, Parked: 0, Remaining: 3}, []string{"evt_c_charge_refunded"}},
		{"dry run", workers.RedriveOptions{DryRun: true}, workers.RedriveSummary{Moved: 3, Parked: 1, Remaining: 4}, nil},
		{"limit", workers.RedriveOptions{Limit: 2}, workers.RedriveSummary{Moved: 2, Parked: 0, Remaining: 2}, []string{"evt_a_pi_succeeded", "evt_b_pi_failed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.deadLetter(t, fixture(t, "payment_intent.succeeded.json", "a", "ord_a", "pi_a"), nil)
			b.deadLetter(t, fixture(t, "payment_intent.payment_failed.json", "b", "ord_b", "pi_b"), map[string]string{domain.AttrReplayCount: "1"})
			b.deadLetter(t, fixture(t, "payment_intent.succeeded.json", "p", "ord_p", "pi_p"), map[string]string{domain.AttrReplayCount: "2"})
			b.deadLetter(t, fixture(t, "charge.refunded.json", "c", "ord_c", "pi_c"), nil)
			before, err := b.dlq.Peek(b.ctx, 100)
			if err != nil {
				t.Fatal(err)
			}

			sum, err := b.replayer(t, 2).Redrive(b.ctx, tc.opts)
			if err != nil {
				t.Fatalf("Redrive: %v", err)
			}
			if sum != tc.want {
				t.Fatalf("summary = %+v, want %+v", sum, tc.want)
			}
			var moved []string
			for _, m := range b.drain(t) {
				moved = append(moved, m.Attributes[domain.AttrEventID])
			}
			slices.Sort(moved)
			if !slices.Equal(moved, tc.moved) {
				t.Fatalf("moved %v, want %v", moved, tc.moved)
			}
			st := b.dlqStats(t)
			if st.InFlight != 0 || st.Visible != tc.want.Remaining {
				t.Fatalf("DLQ after redrive = %+v, want %d visible and nothing hidden", st, tc.want.Remaining)
			}
			if tc.opts.DryRun {
				after, err := b.dlq.Peek(b.ctx, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(after) != len(before) {
					t.Fatalf("dry run changed the DLQ: %d → %d messages", len(before), len(after))
				}
				if n := b.metricCount(metrics.DLQMoved) + b.metricCount(metrics.DLQParked); n != 0 {
					t.Fatalf("dry run recorded %d metric lines", n)
				}
			}
		})
	}
}

// TestRedriveReachesEveryGroupBehindParkedMessages puts many parked messages
// first and makes groups whose head is parked: a loop that released parked
// messages at once, or stopped at the first receive with nothing new, would
// never reach the movable messages behind them.
func TestRedriveReachesEveryGroupBehindParkedMessages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	parked := map[string]string{domain.AttrReplayCount: "3"}
	for i := range 14 {
		b.deadLetter(t, fixture(t, "payment_intent.succeeded.json", "park"+strconv.Itoa(i), "ord_x", "pi_park"+strconv.Itoa(i)), parked)
	}
	// Group pi_shared: parked head, then a movable refund in the same group.
	b.deadLetter(t, fixture(t, "payment_intent.payment_failed.json", "head", "ord_s", "pi_shared"), parked)
	for i := range 12 {
		b.deadLetter(t, fixture(t, "charge.refunded.partial.json", "fill"+strconv.Itoa(i), "ord_f", "pi_fill"+strconv.Itoa(i)), parked)
	}
	b.deadLetter(t, fixture(t, "charge.refunded.json", "tail", "ord_s", "pi_shared"), nil)
	for i := range 3 {
		b.deadLetter(t, fixture(t, "charge.refunded.json", "late"+strconv.Itoa(i), "ord_l", "pi_late"+strconv.Itoa(i)), nil)
	}

	var progress []int
	r, err := workers.NewReplayer(workers.ReplayConfig{
		DLQ: b.dlq, Events: b.events, Clock: b.clock, Metrics: b.deps.Metrics, ReceiveWait: 10 * time.Millisecond,
		Progress: func(done int) { progress = append(progress, done) },
	})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.Redrive(b.ctx, workers.RedriveOptions{})
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if want := (workers.RedriveSummary{Moved: 4, Parked: 27, Remaining: 27}); sum != want {
		t.Fatalf("summary = %+v, want %+v", sum, want)
	}
	if st := b.dlqStats(t); st.InFlight != 0 || st.Visible != 27 {
		t.Fatalf("DLQ after redrive = %+v, want 27 visible, none hidden", st)
	}
	if len(progress) != 31 || progress[len(progress)-1] != 31 {
		t.Fatalf("progress calls = %v, want 1..31", progress)
	}
	if n := b.metricCount(metrics.DLQParked); n != 27 {
		t.Fatalf("DLQParked lines = %d, want 27", n)
	}
	// A second run parks the same messages again and moves nothing.
	sum, err = r.Redrive(b.ctx, workers.RedriveOptions{})
	if err != nil || sum != (workers.RedriveSummary{Moved: 0, Parked: 27, Remaining: 27}) {
		t.Fatalf("second run: %+v, %v", sum, err)
	}
}

// TestRedriveAppliesOnceThroughTheDispatcher follows one event from the DLQ
// back through the worker, twice: the order changes once.
func TestRedriveAppliesOnceThroughTheDispatcher(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := fixture(t, "payment_intent.succeeded.json", "once", "ord_once", "pi_once")
	b.deadLetter(t, body, nil)
	b.createOrder(t, "ord_once", "pi_once", nil)
	r := b.replayer(t, 3)
	for round := 1; round <= 2; round++ {
		if round == 2 {
			// The same event dead-lettered again after its first replay
			// (the DLQ copy keeps the dedup id it was replayed with).
			out := outgoing(t, body)
			out.DedupID += "#replay-1"
			out.Attributes[domain.AttrReplayCount] = "1"
			if _, err := b.dlq.Send(b.ctx, out); err != nil {
				t.Fatal(err)
			}
		}
		sum, err := r.Redrive(b.ctx, workers.RedriveOptions{})
		if err != nil || sum.Moved != 1 {
			t.Fatalf("round %d: %+v, %v", round, sum, err)
		}
		msgs, err := b.events.Receive(b.ctx, 10, 0)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("round %d: received %d, %v", round, len(msgs), err)
		}
		if failed := b.disp.ProcessBatch(b.ctx, msgs); len(failed) != 0 {
			t.Fatalf("round %d: failed %v", round, failed)
		}
		if err := b.events.Delete(b.ctx, msgs[0].Receipt); err != nil {
			t.Fatal(err)
		}
	}
	o := b.order(t, "ord_once")
	if o.Status != domain.StatusCompleted || !slices.Equal(timelineTypes(o), []string{domain.EntryPaymentSucceeded}) {
		t.Fatalf("order: status %s timeline %v", o.Status, timelineTypes(o))
	}
}

func TestReplayConfigAndOptionsAreValidated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bad := []workers.ReplayConfig{
		{Events: b.events},
		{DLQ: b.dlq},
		{DLQ: b.dlq, Events: b.events, MaxReplays: -1},
	}
	for i, cfg := range bad {
		if _, err := workers.NewReplayer(cfg); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("config %d: err = %v, want ErrInvalid", i, err)
		}
	}
	if _, err := b.replayer(t, 0).Redrive(b.ctx, workers.RedriveOptions{Limit: -1}); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("negative limit: err = %v, want ErrInvalid", err)
	}
}

func TestReplayMessageDedupIDs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		msg  domain.Message
		n    int
		want string
	}{
		{"event id attribute", domain.Message{ID: "m1", GroupID: "g", DedupID: "evt_1", Attributes: map[string]string{domain.AttrEventID: "evt_1"}}, 1, "evt_1#replay-1"},
		{"earlier replay", domain.Message{ID: "m2", GroupID: "g", DedupID: "evt_2#replay-1", Attributes: map[string]string{domain.AttrReplayCount: "1"}}, 2, "evt_2#replay-2"},
		{"no ids at all", domain.Message{ID: "m3"}, 3, "m3#replay-3"},
	}
	for _, tc := range cases {
		out := workers.ReplayMessage(tc.msg, tc.n)
		if out.DedupID != tc.want || out.GroupID == "" || out.Attributes[domain.AttrReplayCount] != strconv.Itoa(tc.n) {
			t.Errorf("%s: %+v, want dedup %s", tc.name, out, tc.want)
		}
	}
}

// countingDLQ counts receives.
type countingDLQ struct {
	*sqlite.Queue
	receives atomic.Int64
}

func (q *countingDLQ) Receive(ctx context.Context, n int, wait time.Duration) ([]domain.Message, error) {
	q.receives.Add(1)
	return q.Queue.Receive(ctx, n, wait)
}

// TestRedriveDoesNotRevisitWhenNothingIsBehind: a dry run over 200 messages,
// each in a group of its own, holds them all; with nothing behind any of
// them, the run ends after one pass instead of releasing and receiving the
// held groups a few at a time, each time waiting for a receive to come back
// empty (minutes for a thousand messages on SQS). Every message is counted
// once and released at the end.
func TestRedriveDoesNotRevisitWhenNothingIsBehind(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 200
	for i := range n {
		b.deadLetter(t, fixture(t, "charge.refunded.json", "one"+strconv.Itoa(i), "ord_o", "pi_one"+strconv.Itoa(i)), nil)
	}
	dlq := &countingDLQ{Queue: b.dlq}
	r, err := workers.NewReplayer(workers.ReplayConfig{
		DLQ: dlq, Events: b.events, Clock: b.clock, Metrics: b.deps.Metrics, ReceiveWait: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.Redrive(b.ctx, workers.RedriveOptions{DryRun: true})
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if want := (workers.RedriveSummary{Moved: n, Remaining: n}); sum != want {
		t.Fatalf("summary = %+v, want %+v", sum, want)
	}
	// One pass: n/10 full receives and the empty one that ends it.
	if got, most := dlq.receives.Load(), int64(n/workers.MaxBatch+2); got > most {
		t.Errorf("%d receives for %d messages in their own groups, want at most %d: held groups were revisited with nothing behind them", got, n, most)
	}
	if st := b.dlqStats(t); st.InFlight != 0 || st.Visible != n {
		t.Fatalf("DLQ after the dry run = %+v, want all %d visible again", st, n)
	}
}
