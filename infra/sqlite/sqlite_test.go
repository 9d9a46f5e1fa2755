package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/sqlite"
)

// newTestClock is a settable clock, so visibility and dedup windows pass
// without sleeping.
func newTestClock() *domain.ManualClock {
	return domain.NewManualClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
}

type bundle struct {
	db          *sqlite.DB
	clock       *domain.ManualClock
	events, dlq *sqlite.Queue
}

const (
	visibility  = 30 * time.Second
	maxReceives = 2
)

func setup(t *testing.T) bundle {
	t.Helper()
	b := bundle{db: openTemp(t), clock: newTestClock()}
	var err error
	b.events, err = sqlite.NewQueue(b.db, sqlite.QueueConfig{Name: "events", VisibilityTimeout: visibility,
		MaxReceives: maxReceives, DeadLetterQueue: "events-dlq", DedupWindow: 5 * time.Minute, Clock: b.clock})
	if err != nil {
		t.Fatalf("NewQueue(events): %v", err)
	}
	b.dlq, err = sqlite.NewQueue(b.db, sqlite.QueueConfig{Name: "events-dlq", Clock: b.clock})
	if err != nil {
		t.Fatalf("NewQueue(events-dlq): %v", err)
	}
	return b
}

func out(group, dedup string) domain.OutgoingMessage {
	return domain.OutgoingMessage{Body: []byte(`{"id":"` + dedup + `"}`), GroupID: group, DedupID: dedup,
		Attributes: map[string]string{domain.AttrEventID: dedup, domain.AttrEventType: domain.EventPaymentFailed}}
}

func mustSend(t *testing.T, q *sqlite.Queue, m domain.OutgoingMessage) string {
	t.Helper()
	id, err := q.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return id
}

func mustReceive(t *testing.T, q *sqlite.Queue, want int) []domain.Message {
	t.Helper()
	msgs, err := q.Receive(context.Background(), 10, 0)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if len(msgs) != want {
		t.Fatalf("Receive returned %d messages, want %d", len(msgs), want)
	}
	return msgs
}

func TestQueueSemantics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, b bundle)
	}{
		{"dedup returns the first id until the window passes", func(t *testing.T, b bundle) {
			first := mustSend(t, b.events, out("g", "evt_1"))
			if again := mustSend(t, b.events, out("g", "evt_1")); again != first {
				t.Errorf("duplicate send returned id %s, want the first id %s", again, first)
			}
			b.clock.Advance(5*time.Minute + time.Second)
			if later := mustSend(t, b.events, out("g", "evt_1")); later == first {
				t.Error("a send after the dedup window was dropped")
			}
			st, _ := b.events.Stats(ctx)
			if st.Visible != 2 {
				t.Errorf("visible = %d, want 2 (one per dedup window)", st.Visible)
			}
		}},
		{"empty dedup id deduplicates on content", func(t *testing.T, b bundle) {
			m := out("g", "")
			a, b2 := mustSend(t, b.events, m), mustSend(t, b.events, m)
			if a != b2 {
				t.Errorf("same body without dedup id got ids %s and %s, want one message", a, b2)
			}
		}},
		{"stale receipt is ErrNotFound and does nothing", func(t *testing.T, b bundle) {
			mustSend(t, b.events, out("g", "evt_1"))
			first := mustReceive(t, b.events, 1)[0]
			b.clock.Advance(visibility + time.Second)
			second := mustReceive(t, b.events, 1)[0]
			if second.ReceiveCount != 2 {
				t.Errorf("receive count = %d, want 2", second.ReceiveCount)
			}
			if err := b.events.Delete(ctx, first.Receipt); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("Delete(stale) = %v, want ErrNotFound", err)
			}
			if err := b.events.ChangeVisibility(ctx, first.Receipt, 0); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("ChangeVisibility(stale) = %v, want ErrNotFound", err)
			}
			if st, _ := b.events.Stats(ctx); st != (domain.QueueStats{InFlight: 1}) {
				t.Errorf("stats after stale calls = %+v, want 1 in flight", st)
			}
			if err := b.events.Delete(ctx, second.Receipt); err != nil {
				t.Errorf("Delete(current): %v", err)
			}
			if err := b.events.Delete(ctx, ""); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("Delete(\"\") = %v, want ErrNotFound", err)
			}
		}},
		{"visibility expiry redelivers, in group order", func(t *testing.T, b bundle) {
			mustSend(t, b.events, out("g", "evt_1"))
			mustSend(t, b.events, out("g", "evt_2"))
			got := mustReceive(t, b.events, 2)
			if got[0].DedupID != "evt_1" || got[1].DedupID != "evt_2" {
				t.Fatalf("one receive returned %s, %s; want evt_1, evt_2", got[0].DedupID, got[1].DedupID)
			}
			mustReceive(t, b.events, 0)
			b.clock.Advance(visibility)
			again := mustReceive(t, b.events, 2)
			if again[0].DedupID != "evt_1" || again[0].ReceiveCount != 2 {
				t.Errorf("redelivered %s count %d, want evt_1 count 2", again[0].DedupID, again[0].ReceiveCount)
			}
		}},
		{"DLQ copy keeps everything, the receive count included", func(t *testing.T, b bundle) {
			m := out("g", "evt_1")
			id := mustSend(t, b.events, m)
			mustSend(t, b.events, out("g", "evt_2"))
			sent := b.clock.Now()
			for range maxReceives {
				mustReceive(t, b.events, 2)
				b.clock.Advance(visibility)
			}
			// Both messages reached the limit: this attempt moves them.
			mustReceive(t, b.events, 0)
			if st, _ := b.events.Stats(ctx); st != (domain.QueueStats{}) {
				t.Errorf("events stats after the move = %+v, want empty", st)
			}
			peek, err := b.dlq.Peek(ctx, 10)
			if err != nil || len(peek) != 2 || peek[0].ID != id || peek[1].DedupID != "evt_2" {
				t.Fatalf("DLQ peek = %+v, %v; want evt_1 (id %s) then evt_2", peek, err, id)
			}
			// What `dlq list` shows: the attempts made before the move.
			if peek[0].ReceiveCount != maxReceives {
				t.Errorf("DLQ peek receive count = %d, want %d (kept from the events queue)", peek[0].ReceiveCount, maxReceives)
			}
			got := mustReceive(t, b.dlq, 2)[0]
			if got.ID != id || got.DedupID != m.DedupID || got.GroupID != m.GroupID || string(got.Body) != string(m.Body) {
				t.Errorf("DLQ message = %+v, want the original %+v", got, m)
			}
			if !maps.Equal(got.Attributes, m.Attributes) {
				t.Errorf("DLQ attributes = %v, want exactly %v", got.Attributes, m.Attributes)
			}
			if got.ReceiveCount != maxReceives+1 {
				t.Errorf("first DLQ receive count = %d, want %d (the count goes on, as in SQS)", got.ReceiveCount, maxReceives+1)
			}
			if !got.SentAt.Equal(sent) {
				t.Errorf("DLQ SentAt = %v, want the original %v", got.SentAt, sent)
			}
		}},
		{"peek changes nothing and shows in-flight messages", func(t *testing.T, b bundle) {
			mustSend(t, b.events, out("g", "evt_1"))
			mustSend(t, b.events, out("h", "evt_2"))
			for range 3 {
				if _, err := b.events.Peek(ctx, 10); err != nil {
					t.Fatalf("Peek: %v", err)
				}
			}
			got := mustReceive(t, b.events, 2)
			if got[0].ReceiveCount != 1 {
				t.Errorf("receive count after peeks = %d, want 1", got[0].ReceiveCount)
			}
			peek, err := b.events.Peek(ctx, 10)
			if err != nil || len(peek) != 2 || peek[0].Receipt != "" {
				t.Errorf("Peek of in-flight messages = %+v, %v; want both, without receipts", peek, err)
			}
			if st, _ := b.events.Stats(ctx); st != (domain.QueueStats{InFlight: 2}) {
				t.Errorf("stats = %+v, want 2 in flight", st)
			}
		}},
		{"change visibility extends the timeout", func(t *testing.T, b bundle) {
			mustSend(t, b.events, out("g", "evt_1"))
			m := mustReceive(t, b.events, 1)[0]
			if err := b.events.ChangeVisibility(ctx, m.Receipt, 2*visibility); err != nil {
				t.Fatalf("ChangeVisibility: %v", err)
			}
			b.clock.Advance(visibility + time.Second)
			mustReceive(t, b.events, 0)
			b.clock.Advance(visibility)
			mustReceive(t, b.events, 1)
		}},
		{"group id is required", func(t *testing.T, b bundle) {
			if _, err := b.events.Send(ctx, domain.OutgoingMessage{Body: []byte("x"), DedupID: "d"}); !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("Send without group = %v, want ErrInvalid", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, setup(t))
		})
	}
}

func TestNewQueueValidates(t *testing.T) {
	t.Parallel()
	db := openTemp(t)
	tests := []struct {
		name string
		cfg  sqlite.QueueConfig
	}{
		{"no name", sqlite.QueueConfig{}},
		{"max receives without DLQ", sqlite.QueueConfig{Name: "q", MaxReceives: 3}},
		{"DLQ is itself", sqlite.QueueConfig{Name: "q", MaxReceives: 3, DeadLetterQueue: "q"}},
		{"negative visibility", sqlite.QueueConfig{Name: "q", VisibilityTimeout: -time.Second}},
	}
	for _, tc := range tests {
		if _, err := sqlite.NewQueue(db, tc.cfg); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%s: NewQueue = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestReceiveStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	// A generous wait: only the cancellation can end this call in time.
	done := make(chan error, 1)
	go func() {
		_, err := b.events.Receive(ctx, 1, time.Hour)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Receive after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Receive ignored the cancelled context")
	}
}

// TestTwoHandlesNeverDoubleDeliver opens the file twice, as the CLI and
// `orderflow serve` would, and receives from both at once.
func TestTwoHandlesNeverDoubleDeliver(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "orderflow.db")
	handles := []*sqlite.DB{openAt(t, path), openAt(t, path)}
	var queues []*sqlite.Queue
	for _, db := range handles {
		q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events", VisibilityTimeout: time.Hour})
		if err != nil {
			t.Fatalf("NewQueue: %v", err)
		}
		queues = append(queues, q)
	}
	const groups, perGroup = 20, 5
	for i := range perGroup {
		for g := range groups {
			// Alternate handles so both write too.
			mustSend(t, queues[(i+g)%2], out(fmt.Sprint("g", g), fmt.Sprintf("evt_%d_%d", g, i)))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	next := map[string]int{} // group → next expected index
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := queues[w%2]
			for ctx.Err() == nil {
				mu.Lock()
				done := len(seen) == groups*perGroup
				mu.Unlock()
				if done {
					return
				}
				msgs, err := q.Receive(ctx, 4, 100*time.Millisecond)
				if err != nil {
					t.Errorf("Receive: %v", err)
					return
				}
				mu.Lock()
				for _, m := range msgs {
					seen[m.ID]++
					var g, i int
					fmt.Sscanf(m.DedupID, "evt_%d_%d", &g, &i)
					if want := next[m.GroupID]; i != want {
						t.Errorf("group %s: got message %d, want %d", m.GroupID, i, want)
					}
					next[m.GroupID] = i + 1
				}
				mu.Unlock()
				for _, m := range msgs {
					if err := q.Delete(ctx, m.Receipt); err != nil {
						t.Errorf("Delete: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != groups*perGroup {
		t.Errorf("delivered %d distinct messages, want %d", len(seen), groups*perGroup)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("message %s delivered %d times while in flight", id, n)
		}
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "dir", "orderflow.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	o, err := domain.NewOrder(domain.Order{ID: "ord_1", UserID: "usr_1", SellerID: "sel_1", Amount: 100, Currency: "usd"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.NewStore(db).Create(ctx, o); err != nil {
		t.Fatalf("Create: %v", err)
	}
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events", VisibilityTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id1 := mustSend(t, q, out("g", "evt_1"))
	mustSend(t, q, out("g", "evt_2"))
	inFlight := mustReceive(t, q, 2)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = openAt(t, path)
	got, err := sqlite.NewStore(db).Get(ctx, "ord_1")
	if err != nil || got.UserID != "usr_1" || got.Version != 1 {
		t.Fatalf("Get after reopen = %+v, %v", got, err)
	}
	q, err = sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events", VisibilityTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := q.Stats(ctx); st != (domain.QueueStats{InFlight: 2}) {
		t.Errorf("stats after reopen = %+v, want 2 in flight", st)
	}
	if again := mustSend(t, q, out("g", "evt_1")); again != id1 {
		t.Errorf("dedup forgot evt_1 across reopen: got id %s, want %s", again, id1)
	}
	if err := q.Delete(ctx, inFlight[0].Receipt); err != nil {
		t.Errorf("Delete with a receipt from before the reopen: %v", err)
	}
}

func TestSaveAlreadyAppliedFromTimeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := sqlite.NewStore(openTemp(t))
	o, err := domain.NewOrder(domain.Order{ID: "ord_1", UserID: "usr_1", Amount: 100, Currency: "usd"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// appliedEvents is bounded; an event only the timeline remembers still counts.
	o.Timeline = append(o.Timeline, domain.TimelineEntry{Type: domain.EntryPaymentFailed, At: time.Now(), Actor: "stripe",
		ActorType: "system", EventID: "evt_old"})
	if err := s.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	n := o.Clone()
	n.Version++
	if err := s.Save(ctx, n, o.Version, "evt_old"); !errors.Is(err, domain.ErrAlreadyApplied) {
		t.Errorf("Save of an event in the timeline = %v, want ErrAlreadyApplied", err)
	}
	n.Version = o.Version
	if err := s.Save(ctx, n, o.Version, "evt_new"); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("Save without a version bump = %v, want ErrInvalid", err)
	}
}

func TestOpenRejectsInMemory(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", ":memory:", "file::memory:?cache=shared"} {
		if db, err := sqlite.Open(context.Background(), p); !errors.Is(err, domain.ErrInvalid) {
			if db != nil {
				db.Close()
			}
			t.Errorf("Open(%q) = %v, want ErrInvalid", p, err)
		}
	}
}

// TestDeleteBatch: one call deletes every message of a batch it has a live
// receipt for; a stale receipt fails alone with ErrNotFound, as Delete's
// would, and the next message of a deleted one's group is receivable.
func TestDeleteBatch(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	for _, m := range []domain.OutgoingMessage{out("g1", "d1"), out("g2", "d2"), out("g3", "d3")} {
		mustSend(t, b.events, m)
	}
	stale := mustReceive(t, b.events, 3)[2].Receipt
	b.clock.Advance(visibility + time.Second)
	again := mustReceive(t, b.events, 3) // the first receipts are stale now
	mustSend(t, b.events, out("g1", "d1b"))
	errs := b.events.DeleteBatch(ctx, []string{again[0].Receipt, stale, again[1].Receipt})
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], domain.ErrNotFound) {
		t.Fatalf("DeleteBatch errors = %v, want nil, ErrNotFound, nil", errs)
	}
	next := mustReceive(t, b.events, 1)
	if next[0].DedupID != "d1b" {
		t.Fatalf("after the batch delete got %s, want d1b", next[0].DedupID)
	}
	if err := b.events.Delete(ctx, again[2].Receipt); err != nil {
		t.Fatalf("Delete of the message the batch left: %v", err)
	}
	if errs := b.events.DeleteBatch(ctx, nil); len(errs) != 0 {
		t.Fatalf("DeleteBatch(nil) = %v", errs)
	}
}

// TestExpiredDedupEntryBeforeItIsPruned: Send prunes expired dedup entries
// at most every second; an expired entry still in the table must not drop a
// new message with its dedup id.
func TestExpiredDedupEntryBeforeItIsPruned(t *testing.T) {
	db := openTemp(t)
	clock := newTestClock()
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "short", DedupWindow: 300 * time.Millisecond, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	first := mustSend(t, q, out("g", "d"))
	clock.Advance(100 * time.Millisecond)
	if id := mustSend(t, q, out("g", "d")); id != first {
		t.Fatalf("a duplicate inside the window got id %s, want %s", id, first)
	}
	clock.Advance(300 * time.Millisecond) // expired, not pruned yet
	if id := mustSend(t, q, out("g", "d")); id == first {
		t.Fatal("a send after the window was dropped as a duplicate")
	}
	clock.Advance(100 * time.Millisecond)
	if id := mustSend(t, q, out("g", "d")); id == first {
		t.Fatal("the renewed dedup entry points at the expired message")
	}
	mustReceive(t, q, 2)
}
