package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// TestHotStatementsUseTheirIndexes runs every write path of the queue and the
// store once, then reads SQLite's plan for every statement they prepared (the
// prepared-statement cache is exactly the hot path) and checks it against the
// index it must use. A plan that searches queue_messages by queue alone walks
// every message of the queue: DeleteBatch did, so each batch's delete cost
// grew with the backlog and the workers applied ~600 events/s instead of
// thousands. A statement added to the hot path without an entry here fails
// the test, so its plan is looked at once.
func TestHotStatementsUseTheirIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "orderflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &stepClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	dlq, err := NewQueue(db, QueueConfig{Name: "events-dlq", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQueue(db, QueueConfig{Name: "events", MaxReceives: 1, DeadLetterQueue: dlq.Name(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(db)

	// Every write path once: send (with a prune), receive, record failure,
	// change visibility, delete, delete batch, the dead-letter move, save.
	for i := range 4 {
		if _, err := q.Send(ctx, domain.OutgoingMessage{GroupID: fmt.Sprintf("g%d", i), DedupID: fmt.Sprintf("d%d", i), Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(2 * pruneEvery)
	if _, err := q.Send(ctx, domain.OutgoingMessage{GroupID: "g4", DedupID: "d4", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 4, 0)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	if err := q.RecordFailure(ctx, msgs[0].Receipt, "boom"); err != nil {
		t.Fatal(err)
	}
	if err := q.ChangeVisibility(ctx, msgs[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(ctx, msgs[1].Receipt); err != nil {
		t.Fatal(err)
	}
	for _, err := range q.DeleteBatch(ctx, []string{msgs[2].Receipt, msgs[3].Receipt}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	// msgs[0] was received once (MaxReceives 1): the next receive moves it.
	if _, err := q.Receive(ctx, 10, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := dlq.Stats(ctx); err != nil || st.Visible != 1 {
		t.Fatalf("dead-letter queue %+v, %v: want the message moved", st, err)
	}
	o, err := domain.NewOrder(domain.Order{ID: "ord_1", UserID: "usr_1", SellerID: "sel_1", Amount: 100, Currency: "usd"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := got.Clone()
	next.Version++
	next.Status = domain.StatusCompleted
	if err := s.Save(ctx, next, got.Version, "evt_1"); err != nil {
		t.Fatal(err)
	}

	// The index each statement must use, by a fragment of its text; "" for
	// an insert, which searches nothing.
	want := []struct{ fragment, index string }{
		{"DELETE FROM queue_dedup WHERE queue = ? AND expires_at", "queue_dedup_expiry"},
		{"SELECT message_id FROM queue_dedup", "sqlite_autoindex_queue_dedup_1"},
		{"INSERT INTO queue_messages (queue, id, group_id, dedup_id, body, attributes, sent_at)\n", ""},
		{"INSERT INTO queue_dedup", ""},
		{"SELECT COUNT(*) FROM (SELECT 1 FROM queue_messages", "queue_messages_order"},
		{"FROM queue_messages m", "queue_messages_in_flight"},
		{"UPDATE queue_messages SET receive_count", "INTEGER PRIMARY KEY"},
		{"UPDATE queue_messages SET last_error", "queue_messages_receipt"},
		{"UPDATE queue_messages SET visible_at", "queue_messages_receipt"},
		{"SAVEPOINT one_write", "-"}, {"RELEASE one_write", "-"}, {"ROLLBACK TO one_write", "-"},
		{"DELETE FROM queue_messages WHERE receipt = ?", "queue_messages_receipt"},
		{"AND receipt IN (", "queue_messages_receipt"},
		{"INSERT INTO queue_messages (queue, id, group_id, dedup_id, body, attributes, sent_at, receive_count)", "INTEGER PRIMARY KEY"},
		{"DELETE FROM queue_messages WHERE seq = ?", "INTEGER PRIMARY KEY"},
		{"FROM orders WHERE id = ?", "sqlite_autoindex_orders_1"},
		{"UPDATE orders SET", "sqlite_autoindex_orders_1"},
	}
	db.stmtMu.Lock()
	var queries []string
	for query := range db.stmts {
		queries = append(queries, query)
	}
	db.stmtMu.Unlock()
	if len(queries) < 10 {
		t.Fatalf("only %d statements were prepared: the workload above no longer reaches the hot path", len(queries))
	}
	matched := map[string]bool{}
	for _, query := range queries {
		index, found := "", false
		for _, w := range want {
			if strings.Contains(query, w.fragment) {
				index, found = w.index, true
				matched[w.fragment] = true
				break
			}
		}
		if !found {
			t.Errorf("a hot statement without an expected plan here (add one after reading its plan):\n%s", query)
			continue
		}
		if index == "-" {
			continue // the group committer's savepoints: no plan
		}
		plan := queryPlan(t, db, query)
		for _, line := range plan {
			// A SCAN reads a whole table or index; a SEARCH that names
			// only queue= walks every message of the queue.
			if strings.HasPrefix(line, "SCAN ") && !strings.HasPrefix(line, "SCAN (subquery") {
				t.Errorf("%s\nscans: %q", query, plan)
			}
		}
		if index != "" && !slices.ContainsFunc(plan, func(line string) bool { return strings.Contains(line, index) }) {
			t.Errorf("%s\nplan %q, want it to search by %s", query, plan, index)
		}
	}
	for _, w := range want {
		if !matched[w.fragment] && w.index != "-" {
			t.Errorf("no prepared statement contains %q: the workload missed it, or the entry is stale", w.fragment)
		}
	}
}

// queryPlan returns the detail column of EXPLAIN QUERY PLAN for query, its
// parameters bound to NULL (the plan does not depend on their values).
func queryPlan(t *testing.T, db *DB, query string) []string {
	t.Helper()
	args := make([]any, strings.Count(query, "?"))
	rows, err := db.sql.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// stepClock is a clock the test moves by hand.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time          { return c.now }
func (c *stepClock) advance(d time.Duration) { c.now = c.now.Add(d) }

// TestOpenMigratesAnOlderFile opens a file made by an older orderflow (no
// last_error column, every message in queue_messages_group): Open adds the
// column, replaces the group index with the partial in-flight one, and a
// message already in flight still holds its group back.
func TestOpenMigratesAnOlderFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orderflow.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, stmt := range []string{
		`CREATE TABLE queue_messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, id TEXT NOT NULL,
			group_id TEXT NOT NULL, dedup_id TEXT NOT NULL, body BLOB NOT NULL, attributes TEXT NOT NULL,
			sent_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, visible_at INTEGER NOT NULL DEFAULT 0,
			receipt TEXT NOT NULL DEFAULT '')`,
		`CREATE INDEX queue_messages_group ON queue_messages (queue, group_id, visible_at)`,
		// pi_1's first message is in flight (received, hidden for a minute);
		// its second must wait. pi_2's message is free.
		fmt.Sprintf(`INSERT INTO queue_messages (queue, id, group_id, dedup_id, body, attributes, sent_at, receive_count, visible_at, receipt)
			VALUES ('events', 'm1', 'pi_1', 'd1', '{}', '{}', 1, 1, %d, 'r1'),
			       ('events', 'm2', 'pi_1', 'd2', '{}', '{}', 2, 0, 0, ''),
			       ('events', 'm3', 'pi_2', 'd3', '{}', '{}', 3, 0, 0, '')`, now.Add(time.Minute).UnixNano()),
	} {
		if _, err := old.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	old.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var indexes []string
	rows, err := db.sql.Query(`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'queue_messages' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, name)
	}
	rows.Close()
	if slices.Contains(indexes, "queue_messages_group") || !slices.Contains(indexes, "queue_messages_in_flight") {
		t.Errorf("indexes after Open = %v: want queue_messages_in_flight instead of queue_messages_group", indexes)
	}
	q, err := NewQueue(db, QueueConfig{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != "m3" {
		t.Fatalf("received %+v: want only m3 (pi_1 has a message in flight)", msgs)
	}
	if err := q.RecordFailure(ctx, msgs[0].Receipt, "the last_error column exists"); err != nil {
		t.Fatal(err)
	}
}
