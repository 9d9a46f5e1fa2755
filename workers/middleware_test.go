package workers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/workers"
)

// scripted returns errs from successive calls, then nil, counting calls.
func scripted(calls *atomic.Int32, errs ...error) workers.Handler {
	return workers.HandlerFunc(func(context.Context, domain.Message) error {
		n := int(calls.Add(1))
		if n <= len(errs) {
			return errs[n-1]
		}
		return nil
	})
}

func TestRetryByKind(t *testing.T) {
	t.Parallel()
	conflict := fmt.Errorf("update ord_1: %w", domain.ErrConflict)
	// An interval of an hour: any sleep would hang the test, so passing
	// shows the retries that should be immediate are, and the transient
	// one gives up rather than sleep past the deadline.
	tests := []struct {
		name         string
		errs         []error
		wantErr      bool
		wantAttempts int32
	}{
		{name: "conflicts are retried at once", errs: []error{conflict, conflict}, wantAttempts: 3},
		{name: "conflicts give up after ConflictRetries", errs: []error{conflict, conflict, conflict, conflict, conflict}, wantErr: true, wantAttempts: 4},
		{name: "not-yet is not retried", errs: []error{domain.NotYet(errors.New("order ord_1 not written"))}, wantErr: true, wantAttempts: 1},
		{name: "not found counts as not-yet", errs: []error{fmt.Errorf("order ord_1: %w", domain.ErrNotFound)}, wantErr: true, wantAttempts: 1},
		{name: "permanent is not retried", errs: []error{domain.Permanentf("bad")}, wantErr: true, wantAttempts: 1},
		{name: "transient stops when the next wait passes the deadline", errs: []error{errors.New("throttled"), errors.New("throttled")}, wantErr: true, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			h := workers.Chain(scripted(&calls, tt.errs...), workers.Retry(workers.RetryConfig{InitialInterval: time.Hour, ConflictRetries: 3}))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := h.Handle(ctx, domain.Message{ID: "m1"})
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error=%v", err, tt.wantErr)
			}
			if got := calls.Load(); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			if err != nil && len(tt.errs) > 0 && !errors.Is(err, tt.errs[0]) && !errors.Is(err, tt.errs[len(tt.errs)-1]) {
				t.Errorf("err = %v does not wrap the handler's error", err)
			}
		})
	}
}

func TestRecovererTurnsPanicIntoTransientError(t *testing.T) {
	t.Parallel()
	h := workers.Chain(workers.HandlerFunc(func(context.Context, domain.Message) error { panic("boom") }), workers.Recoverer())
	err := h.Handle(context.Background(), domain.Message{ID: "m1"})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
	if k := domain.KindOf(err); k != domain.KindTransient {
		t.Errorf("kind = %s, want transient: the receive limit decides a poison message", k)
	}
}

func TestChainOrder(t *testing.T) {
	t.Parallel()
	var seen []string
	mw := func(name string) workers.Middleware {
		return func(next workers.Handler) workers.Handler {
			return workers.HandlerFunc(func(ctx context.Context, msg domain.Message) error {
				seen = append(seen, name)
				return next.Handle(ctx, msg)
			})
		}
	}
	h := workers.Chain(workers.HandlerFunc(func(context.Context, domain.Message) error {
		seen = append(seen, "handler")
		return nil
	}), mw("outer"), mw("inner"))
	if err := h.Handle(context.Background(), domain.Message{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"outer", "inner", "handler"}) {
		t.Errorf("order = %v, want outer, inner, handler", seen)
	}
}

// A group id built from external data that SQS would refuse still reaches
// the DLQ: the send goes through OutgoingMessage.NormalizeIDs.
func TestDeadLetterNormalizesIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bad := "order 42/ë"
	h := workers.Chain(workers.HandlerFunc(func(context.Context, domain.Message) error { return domain.Permanentf("%w: nope", domain.ErrInvalid) }),
		workers.DeadLetter(b.dlq, nil, nil))
	msg := domain.Message{ID: "m1", Body: []byte(`{}`), GroupID: bad, DedupID: bad, Attributes: map[string]string{domain.AttrEventType: "x"}}
	if err := h.Handle(b.ctx, msg); err != nil {
		t.Fatalf("Handle = %v, want nil after dead-lettering", err)
	}
	got, err := b.dlq.Receive(b.ctx, 10, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("dlq holds %d (err %v), want 1", len(got), err)
	}
	want := domain.OutgoingMessage{GroupID: bad, DedupID: bad}.NormalizeIDs()
	if got[0].GroupID != want.GroupID || got[0].DedupID != want.DedupID {
		t.Errorf("dlq ids = %q/%q, want %q/%q", got[0].GroupID, got[0].DedupID, want.GroupID, want.DedupID)
	}
	if le := got[0].Attributes[domain.AttrLastError]; !strings.Contains(le, "nope") {
		t.Errorf("lastError = %q", le)
	}
}

// recorder keeps failure reasons, as the SQLite queue does.
type recorder struct {
	mu      sync.Mutex
	reasons map[string]string
}

func (r *recorder) RecordFailure(_ context.Context, receipt, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reasons == nil {
		r.reasons = map[string]string{}
	}
	r.reasons[receipt] = reason
	return nil
}

func TestRecordFailuresKeepsTheReason(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	var calls atomic.Int32
	h := workers.Chain(scripted(&calls, domain.NotYet(errors.New("order ord_9 not written"))), workers.RecordFailures(rec, nil))
	if err := h.Handle(context.Background(), domain.Message{ID: "m1", Receipt: "r1"}); err == nil {
		t.Fatal("want the error through")
	}
	if err := h.Handle(context.Background(), domain.Message{ID: "m1", Receipt: "r2"}); err != nil {
		t.Fatalf("second call = %v", err)
	}
	if !strings.Contains(rec.reasons["r1"], "ord_9") || len(rec.reasons) != 1 {
		t.Errorf("reasons = %v, want only r1's", rec.reasons)
	}
}

// Groups of one batch are handled at the same time: each handler waits
// until every group has started, which only parallel groups get past.
// Within a group the order holds.
func TestGroupsOfABatchRunInParallel(t *testing.T) {
	t.Parallel()
	const groups = 4
	var started sync.WaitGroup
	started.Add(groups)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	var mu sync.Mutex
	order := map[string][]string{}
	first := map[string]bool{}
	h := workers.HandlerFunc(func(ctx context.Context, msg domain.Message) error {
		mu.Lock()
		order[msg.GroupID] = append(order[msg.GroupID], msg.ID)
		isFirst := !first[msg.GroupID]
		first[msg.GroupID] = true
		mu.Unlock()
		if isFirst {
			started.Done()
			select {
			case <-all:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	d, err := workers.NewDispatcher(workers.Config{Handlers: map[string]workers.Handler{"t": h}, BatchTime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []domain.Message
	for i := 0; i < 2*groups; i++ {
		g := fmt.Sprintf("g%d", i%groups)
		msgs = append(msgs, domain.Message{ID: fmt.Sprintf("%s-%d", g, i/groups), GroupID: g, Attributes: map[string]string{domain.AttrEventType: "t"}})
	}
	if failed := d.ProcessBatch(context.Background(), msgs); len(failed) != 0 {
		t.Fatalf("failed = %v: groups did not run in parallel", failed)
	}
	for g, ids := range order {
		if !slices.Equal(ids, []string{g + "-0", g + "-1"}) {
			t.Errorf("group %s handled %v, want in order", g, ids)
		}
	}
}

// When the batch runs out of time, messages not yet started are reported
// failed without being handled, so they cannot be worked on twice.
func TestUnstartedMessagesAreReturnedWhenTheBatchRunsOut(t *testing.T) {
	t.Parallel()
	var handled sync.Map
	h := workers.HandlerFunc(func(ctx context.Context, msg domain.Message) error {
		handled.Store(msg.ID, true)
		if msg.GroupID == "slow" {
			<-ctx.Done() // a store call that hangs until the deadline
			return ctx.Err()
		}
		return nil
	})
	d, err := workers.NewDispatcher(workers.Config{Handlers: map[string]workers.Handler{"t": h}, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []domain.Message{{ID: "s1", GroupID: "slow"}, {ID: "a1", GroupID: "a"}, {ID: "b1", GroupID: "b"}}
	for i := range msgs {
		msgs[i].Attributes = map[string]string{domain.AttrEventType: "t"}
	}
	// A Lambda invocation with little time left.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if failed := d.ProcessBatch(ctx, msgs); !slices.Equal(failed, []string{"s1", "a1", "b1"}) {
		t.Fatalf("failed = %v, want all three", failed)
	}
	for _, id := range []string{"a1", "b1"} {
		if _, ok := handled.Load(id); ok {
			t.Errorf("%s was handled after the deadline", id)
		}
	}
}

func TestConfigValidatesConcurrencyAndDelays(t *testing.T) {
	t.Parallel()
	ok := workers.HandlerFunc(func(context.Context, domain.Message) error { return nil })
	_, err := workers.NewDispatcher(workers.Config{
		Handlers: map[string]workers.Handler{"x": ok}, Concurrency: -1, NotYetDelay: time.Minute, MaxNotYetDelay: time.Second,
		RetryBudget: time.Minute, BatchTime: time.Second,
	})
	for _, want := range []string{"concurrency", "not-yet delay", "above the batch time"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}
