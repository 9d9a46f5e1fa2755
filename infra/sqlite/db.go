package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/orderflow/orderflow/domain"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeoutMS is how long a connection waits for another writer (possibly
// another process) before failing with SQLITE_BUSY; transactions here are
// short, so hitting it means something is stuck.
const busyTimeoutMS = 10000

// maxOpenConns bounds the pool: writers serialise on the file lock anyway, and
// fewer connections mean fewer busy-handler sleeps under contention.
const maxOpenConns = 4

// schema is idempotent so every process can run it on Open.
const schema = `
CREATE TABLE IF NOT EXISTS orders (
	id                       TEXT PRIMARY KEY,
	status                   TEXT NOT NULL,
	user_id                  TEXT NOT NULL,
	seller_id                TEXT NOT NULL,
	stripe_payment_intent_id TEXT NOT NULL,
	requires_review          INTEGER NOT NULL,
	version                  INTEGER NOT NULL,
	data                     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status, id);
CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id, id);
CREATE INDEX IF NOT EXISTS orders_seller ON orders (seller_id, id);
CREATE INDEX IF NOT EXISTS orders_payment_intent ON orders (stripe_payment_intent_id, id);

CREATE TABLE IF NOT EXISTS queue_messages (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	queue         TEXT NOT NULL,
	id            TEXT NOT NULL,
	group_id      TEXT NOT NULL,
	dedup_id      TEXT NOT NULL,
	body          BLOB NOT NULL,
	attributes    TEXT NOT NULL,
	sent_at       INTEGER NOT NULL,
	receive_count INTEGER NOT NULL DEFAULT 0,
	visible_at    INTEGER NOT NULL DEFAULT 0,
	receipt       TEXT NOT NULL DEFAULT '',
	last_error    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS queue_messages_order ON queue_messages (queue, visible_at, seq);
CREATE INDEX IF NOT EXISTS queue_messages_seq ON queue_messages (queue, seq);
CREATE INDEX IF NOT EXISTS queue_messages_group ON queue_messages (queue, group_id, visible_at);
CREATE INDEX IF NOT EXISTS queue_messages_receipt ON queue_messages (receipt) WHERE receipt != '';

CREATE TABLE IF NOT EXISTS queue_dedup (
	queue      TEXT NOT NULL,
	dedup_id   TEXT NOT NULL,
	message_id TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (queue, dedup_id)
);
CREATE INDEX IF NOT EXISTS queue_dedup_expiry ON queue_dedup (queue, expires_at);
`

// DB is an open orderflow SQLite file, shared by the Store and the Queues.
type DB struct {
	sql  *sql.DB
	path string
}

// Open opens (creating it and its parent directory if needed) the SQLite file
// at path and makes sure the schema exists. path must be a file: an in-memory
// database would be private to one pooled connection.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlite: open %q: %w: want a plain file path", path, domain.ErrInvalid)
	}
	// 0700: the data folder also keeps the local webhook signing secret.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// _txlock=immediate makes every BeginTx a BEGIN IMMEDIATE: the write lock
	// is taken up front, so a transaction never fails half-way trying to
	// upgrade a read lock another process invalidated.
	dsn := path + fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate", busyTimeoutMS)
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	sqldb.SetMaxOpenConns(maxOpenConns)
	db := &DB{sql: sqldb, path: path}
	if err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return err
		}
		return migrate(ctx, tx)
	}); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite: open %s: schema: %w", path, err)
	}
	return db, nil
}

// migrate brings a database made by an earlier version up to the schema:
// CREATE TABLE IF NOT EXISTS leaves an existing table's columns as they were.
func migrate(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('queue_messages') WHERE name = 'last_error'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		_, err := tx.ExecContext(ctx, `ALTER TABLE queue_messages ADD COLUMN last_error TEXT NOT NULL DEFAULT ''`)
		return err
	}
	return nil
}

// Close closes the database; the Store and Queues built on it stop working.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", db.path, err)
	}
	return nil
}

// tx runs fn in one BEGIN IMMEDIATE transaction, committing when fn succeeds.
func (db *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rbErr := rollback(tx); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}
