package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, also what serve uses
)

// tracker follows one serve phase's events from the 200 to the order changed.
type tracker struct {
	first   int            // the run-wide index of the phase's first order
	claimed atomic.Int64   // requests started so far (they go out in index order)
	ackAt   []atomic.Int64 // Unix ns of the 200; 0: not acknowledged
	doneAt  []atomic.Int64 // Unix ns the watcher first saw the order completed
	cursor  int            // watcher only: every index below it is done
}

func newTracker(first, n int) *tracker {
	return &tracker{first: first, ackAt: make([]atomic.Int64, n), doneAt: make([]atomic.Int64, n)}
}

// hooks connects the tracker to a client phase.
func (t *tracker) hooks() hooks {
	return hooks{
		claimed: func(i int) {
			for {
				c := t.claimed.Load()
				if int64(i) < c || t.claimed.CompareAndSwap(c, int64(i)+1) {
					return
				}
			}
		},
		acked: func(i int, at time.Time) {
			if i < len(t.ackAt) {
				t.ackAt[i].Store(at.UnixNano())
			}
		},
	}
}

// counts returns how many events were acknowledged and how many of those
// were seen applied.
func (t *tracker) counts() (acked, applied int) {
	for i := range t.ackAt {
		if t.ackAt[i].Load() != 0 {
			acked++
			if t.doneAt[i].Load() != 0 {
				applied++
			}
		}
	}
	return acked, applied
}

// lags returns the end-to-end lag (200 → order changed) of every
// acknowledged, applied event. An order can change before the client has
// read its 200; that lag counts as zero.
func (t *tracker) lags() []time.Duration {
	var out []time.Duration
	for i := range t.ackAt {
		a, d := t.ackAt[i].Load(), t.doneAt[i].Load()
		if a != 0 && d != 0 {
			out = append(out, time.Duration(max(0, d-a)))
		}
	}
	return out
}

// applyRate is the rate the phase's orders changed at, between the 5th and
// the 95th percentile of their change times: the sustained rate, without the
// start-up and the tail.
func (t *tracker) applyRate() float64 {
	var at []int64
	for i := range t.doneAt {
		if d := t.doneAt[i].Load(); d != 0 {
			at = append(at, d)
		}
	}
	if len(at) < 20 {
		return 0
	}
	slices.Sort(at)
	lo, hi := len(at)*5/100, len(at)*95/100
	span := time.Duration(at[hi] - at[lo])
	if span <= 0 {
		return 0
	}
	return float64(hi-lo) / span.Seconds()
}

// watcher polls the orders table read-only, on its own connection, for the
// orders of the current phase that turned completed. Order ids sort in send
// order and orders complete roughly in it, so each poll reads only the
// completed rows between the oldest not-yet-completed order and the newest
// request sent: a handful, however long the run.
//
// It reads serve's table directly (the status column and its index) because
// the store's List decodes whole records, far too slow to run every few
// milliseconds next to the system being measured.
type watcher struct {
	db      *sql.DB
	stmt    *sql.Stmt
	poll    time.Duration
	cur     atomic.Pointer[tracker]
	lastErr atomic.Pointer[error] // the latest poll's error; nil after a good poll
}

func newWatcher(ctx context.Context, path string, poll time.Duration) (*watcher, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	stmt, err := db.PrepareContext(ctx, `SELECT id FROM orders WHERE status = 'completed' AND id BETWEEN ? AND ?`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("lag watcher: %w", err)
	}
	return &watcher{db: db, stmt: stmt, poll: poll}, nil
}

func (w *watcher) close() {
	w.stmt.Close()
	w.db.Close()
}

// follow makes t the phase the watcher polls for.
func (w *watcher) follow(t *tracker) { w.cur.Store(t) }

// run polls until ctx ends; a failed poll is retried on the next tick (the
// final exactly-once check does not depend on the watcher).
func (w *watcher) run(ctx context.Context) {
	tick := time.NewTicker(w.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if t := w.cur.Load(); t != nil {
			if err := w.once(ctx, t); err != nil && ctx.Err() == nil {
				w.lastErr.Store(&err)
			} else {
				w.lastErr.Store(nil)
			}
		}
	}
}

func (w *watcher) once(ctx context.Context, t *tracker) error {
	hi := int(t.claimed.Load()) - 1
	if hi < t.cursor {
		return nil
	}
	rows, err := w.stmt.QueryContext(ctx, orderID(t.first+t.cursor), orderID(t.first+hi))
	if err != nil {
		return err
	}
	var seen []int
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if i := orderIndex(id) - t.first; i >= 0 && i < len(t.doneAt) {
			seen = append(seen, i)
		}
	}
	err = rows.Close()
	now := time.Now().UnixNano()
	for _, i := range seen {
		t.doneAt[i].CompareAndSwap(0, now)
	}
	for t.cursor <= hi && t.doneAt[t.cursor].Load() != 0 {
		t.cursor++
	}
	return err
}

// drain waits until every acknowledged event of t was seen applied, or until
// none has been for timeout; the final check decides what was lost. It fails
// when the watcher cannot read the orders at all, rather than wait for
// nothing. progress gets (applied, acked).
func (w *watcher) drain(ctx context.Context, t *tracker, timeout time.Duration, progress func(applied, acked int)) error {
	last, lastChange := -1, time.Now()
	for ctx.Err() == nil {
		acked, applied := t.counts()
		progress(applied, acked)
		if applied == acked {
			return nil
		}
		if applied != last {
			last, lastChange = applied, time.Now()
		} else if err := w.lastErr.Load(); err != nil && time.Since(lastChange) > 5*time.Second {
			return fmt.Errorf("lag watcher: reading serve's orders table: %w", *err)
		} else if time.Since(lastChange) > timeout {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return ctx.Err()
}
