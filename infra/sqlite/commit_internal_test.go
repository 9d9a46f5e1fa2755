package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// TestOneFailedCheckInAGroupLeavesTheOthers hands the committer one group
// directly, so the writes certainly share a transaction: saves of three
// orders where one loses its version check and one replays an applied event,
// a send, and a write that fails half-way. Each caller gets its own answer
// and exactly the successful writes are stored, once.
func TestOneFailedCheckInAGroupLeavesTheOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "orderflow.db"), func(o *options) { o.noCommitter = true })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := NewStore(db)
	q, err := NewQueue(db, QueueConfig{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	orders := map[string]domain.Order{}
	for _, id := range []string{"ord_a", "ord_b", "ord_c"} {
		o, err := domain.NewOrder(domain.Order{ID: id, UserID: "usr_1", SellerID: "sel_1", Amount: 100, Currency: "usd"}, now)
		if err != nil {
			t.Fatal(err)
		}
		o.AppliedEvents = []string{"evt_old"}
		if err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		orders[id] = o
	}
	bump := func(id, evt string) domain.Order {
		n := orders[id].Clone()
		n.Version++
		n.AppliedEvents = append(n.AppliedEvents, evt)
		n.Status = domain.StatusCompleted
		return n
	}
	// capture runs call until it has handed its write to the committer, and
	// takes the write instead of committing it.
	var group []*writeOp
	capture := func(call func()) {
		t.Helper()
		before := len(group)
		done := make(chan struct{})
		go func() {
			defer close(done)
			call()
		}()
		group = append(group, <-db.commits)
		if len(group) != before+1 {
			t.Fatal("no write was handed over")
		}
		// The caller now waits for its answer; commitGroup gives it.
		t.Cleanup(func() { <-done })
	}
	answers := make([]chan error, 0)
	save := func(o domain.Order, expected int64, evt string) {
		ch := make(chan error, 1)
		answers = append(answers, ch)
		capture(func() { ch <- s.Save(ctx, o, expected, evt) })
	}
	save(bump("ord_a", "evt_a"), 1, "evt_a")     // wins
	save(bump("ord_b", "evt_b"), 0, "evt_b")     // wrong expected version
	save(bump("ord_c", "evt_old"), 1, "evt_old") // replayed event
	save(bump("ord_c", "evt_c"), 1, "evt_c")     // wins, after the refusal on the same order
	save(bump("ord_a", "evt_a2"), 1, "evt_a2")   // loses to the first save of ord_a, in the same group
	sendAnswer := make(chan error, 1)
	capture(func() {
		_, err := q.Send(ctx, domain.OutgoingMessage{Body: []byte("{}"), GroupID: "g", DedupID: "evt_send"})
		sendAnswer <- err
	})
	halfWay := make(chan error, 1)
	capture(func() {
		halfWay <- db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE orders SET status = 'refunded'`); err != nil {
				return err
			}
			return errors.New("failed after writing")
		})
	})
	db.commitGroup(group)

	want := []error{nil, domain.ErrConflict, domain.ErrAlreadyApplied, nil, domain.ErrConflict}
	for i, ch := range answers {
		if err := <-ch; (want[i] == nil) != (err == nil) || (want[i] != nil && !errors.Is(err, want[i])) {
			t.Errorf("save %d answered %v, want %v", i, err, want[i])
		}
	}
	if err := <-sendAnswer; err != nil {
		t.Errorf("send in the group: %v", err)
	}
	if err := <-halfWay; err == nil || err.Error() != "failed after writing" {
		t.Errorf("half-way write answered %v, want its own error", err)
	}
	for id, want := range map[string]struct {
		version int64
		status  domain.Status
		applied string
	}{
		"ord_a": {2, domain.StatusCompleted, "evt_a"},
		"ord_b": {1, domain.StatusPending, ""},
		"ord_c": {2, domain.StatusCompleted, "evt_c"},
	} {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != want.version || got.Status != want.status {
			t.Errorf("%s: version %d status %s, want %d %s", id, got.Version, got.Status, want.version, want.status)
		}
		if want.applied != "" && (len(got.AppliedEvents) != 2 || got.AppliedEvents[1] != want.applied) {
			t.Errorf("%s: appliedEvents %v, want evt_old then %s once", id, got.AppliedEvents, want.applied)
		}
	}
	if peek, err := q.Peek(ctx, 10); err != nil || len(peek) != 1 {
		t.Errorf("queue after the group: %d messages, %v; want the one sent", len(peek), err)
	}
}
