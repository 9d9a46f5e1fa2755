package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// opResult is what a limit measurement saw: operations (rows, updates,
// fsyncs) over elapsed, and the latency of each timed step (a commit).
type opResult struct {
	ops     int
	elapsed time.Duration
	lat     []time.Duration
}

func (r opResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// repeat runs step back to back for d; step returns how many operations it did.
func repeat(ctx context.Context, d time.Duration, step func() (int, error)) (opResult, error) {
	var r opResult
	start := time.Now()
	deadline := start.Add(d)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		t0 := time.Now()
		n, err := step()
		if err != nil {
			return r, err
		}
		r.lat = append(r.lat, time.Since(t0))
		r.ops += n
	}
	r.elapsed = time.Since(start)
	return r, ctx.Err()
}

// measureFsync writes one 4 KiB block and fsyncs it, again and again: the
// disk's floor under every durable commit.
func measureFsync(ctx context.Context, path string, d time.Duration) (opResult, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return opResult{}, err
	}
	defer os.Remove(path)
	defer f.Close()
	block := make([]byte, 4096)
	return repeat(ctx, d, func() (int, error) {
		if _, err := f.WriteAt(block, 0); err != nil {
			return 0, err
		}
		return 1, f.Sync()
	})
}

// openLimitDB opens a scratch SQLite file the way infra/sqlite opens serve's:
// WAL, synchronous=FULL, BEGIN IMMEDIATE, one connection.
func openLimitDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// measureInserts inserts rows of payload's size (an event body, as the
// queue stores), perCommit rows per durable commit.
func measureInserts(ctx context.Context, path string, payload []byte, perCommit int, d time.Duration) (opResult, error) {
	db, err := openLimitDB(path)
	if err != nil {
		return opResult{}, err
	}
	defer os.Remove(path)
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE rows (seq INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT NOT NULL, body BLOB NOT NULL)`); err != nil {
		return opResult{}, err
	}
	n := 0
	return repeat(ctx, d, func() (int, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		for i := 0; i < perCommit; i++ {
			n++
			if _, err := tx.ExecContext(ctx, `INSERT INTO rows (k, body) VALUES (?, ?)`, fmt.Sprintf("evt_%09d", n), payload); err != nil {
				_ = tx.Rollback()
				return 0, err
			}
		}
		return perCommit, tx.Commit()
	})
}

// updateRows is how many records the conditional-update limit spreads over.
const updateRows = 10000

// measureUpdates does what every applied event costs at the least: in one
// transaction, read a record and its version, then write it back only if the
// version is unchanged. Records are order-sized JSON.
func measureUpdates(ctx context.Context, path string, d time.Duration) (opResult, error) {
	db, err := openLimitDB(path)
	if err != nil {
		return opResult{}, err
	}
	defer os.Remove(path)
	defer db.Close()
	record, err := sampleOrderJSON()
	if err != nil {
		return opResult{}, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE records (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL)`); err != nil {
		return opResult{}, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return opResult{}, err
	}
	for i := 0; i < updateRows; i++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO records VALUES (?, 1, ?)`, orderID(i), record); err != nil {
			_ = tx.Rollback()
			return opResult{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return opResult{}, err
	}
	return repeat(ctx, d, func() (int, error) {
		id := orderID(rand.IntN(updateRows))
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		var version int64
		var data string
		if err := tx.QueryRowContext(ctx, `SELECT version, data FROM records WHERE id = ?`, id).Scan(&version, &data); err != nil {
			_ = tx.Rollback()
			return 0, err
		}
		res, err := tx.ExecContext(ctx, `UPDATE records SET version = ?, data = ? WHERE id = ? AND version = ?`, version+1, data, id, version)
		if err == nil {
			var n int64
			if n, err = res.RowsAffected(); err == nil && n != 1 {
				err = errors.New("conditional update matched no row")
			}
		}
		if err != nil {
			_ = tx.Rollback()
			return 0, err
		}
		return 1, tx.Commit()
	})
}

// sampleOrderJSON is a paid order as the store keeps it, for record size.
func sampleOrderJSON() (string, error) {
	now := time.Now().UTC()
	o, err := domain.NewOrder(domain.Order{
		ID: orderID(0), UserID: "usr_load", SellerID: "sel_load", ProductID: "prd_load",
		Amount: orderAmount, Currency: "usd", StripePaymentIntentID: "pi_load_0123456789abcdef",
	}, now)
	if err != nil {
		return "", err
	}
	o.Status, o.PaymentStatus, o.StripeChargeID = domain.StatusCompleted, domain.PaymentPaid, "ch_load_0123456789abcdef"
	o.Timeline = append(o.Timeline, domain.TimelineEntry{
		Type: domain.EntryPaymentSucceeded, At: now, Actor: "stripe", ActorType: "system", EventID: "evt_load_0123456789abcdef",
		Meta: map[string]any{"paymentIntentId": o.StripePaymentIntentID, "chargeId": o.StripeChargeID, "amount": o.Amount, "currency": o.Currency},
	})
	o.AppliedEvents = []string{"evt_load_0123456789abcdef"}
	b, err := json.Marshal(o)
	return string(b), err
}
