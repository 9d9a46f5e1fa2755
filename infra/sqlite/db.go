package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/orderflow/orderflow/domain"

	sqlitedriver "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
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
CREATE INDEX IF NOT EXISTS queue_messages_in_flight ON queue_messages (queue, group_id, visible_at) WHERE receipt != '';
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
	sql      *sql.DB
	path     string
	readOnly bool
	file     fileWatch
	// commits feeds the group committer (commit.go); nil when read-only.
	commits   chan *writeOp
	closing   sync.RWMutex  // write-locked by Close to set closed
	closed    bool          // no more writes are handed over
	stop      chan struct{} // closed by Close: the committer takes no more
	stopped   chan struct{} // closed when the committer has returned
	closeOnce sync.Once
	// wake holds, per queue name, the token that wakes one of its waiting
	// receivers after a commit (commit.go: receivable).
	wakeMu sync.Mutex
	wake   map[string]chan struct{}
	// committed is set by every group commit; the checkpointer
	// (checkpoint.go) checkpoints only after commits.
	committed      atomic.Bool
	checkpointDone chan struct{} // closed when the checkpointer has returned
	// damage is the first report of a damaged file (damage.go).
	damage damage
	// stmts are the prepared statements by query text (stmt.go).
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
}

// Option changes how Open opens the database.
type Option func(*options)

type options struct {
	readOnly bool
	// noCommitter leaves the group committer unstarted, so a test in the
	// package can take writes from db.commits and commit them as one group.
	noCommitter bool
}

// ReadOnly opens an existing database for reading only: nothing is created,
// the schema is not touched, and every write fails with ErrReadOnly. Read-only
// commands use it, so they work on a read-only copy and cannot change a
// database by accident.
func ReadOnly() Option { return func(o *options) { o.readOnly = true } }

// ErrReadOnly is what a write answers on a database opened with ReadOnly,
// and what Open answers for a database file this process cannot write.
var ErrReadOnly = errors.New("the database is read-only")

// Open opens (creating it and its parent directory if needed) the SQLite file
// at path and makes sure the schema exists. path must be a file: an in-memory
// database would be private to one pooled connection.
//
// The files hold raw webhook bodies (client secrets, billing details), so the
// database, its -wal and -shm are made 0600 whatever the umask, and a new
// parent directory 0700.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlite: open %q: %w: want a plain file path", path, domain.ErrInvalid)
	}
	if o.readOnly {
		return openReadOnly(ctx, path)
	}
	// 0700: the data folder also keeps the local webhook signing secret.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := prepareFiles(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// _txlock=immediate makes every BeginTx a BEGIN IMMEDIATE: the write lock
	// is taken up front, so a transaction never fails half-way trying to
	// upgrade a read lock another process invalidated.
	//
	// wal_autocheckpoint(0): the checkpointer goroutine checkpoints instead
	// of whichever commit crosses the limit (checkpoint.go).
	//
	// mode=rw: prepareFiles made the file (0600); a connection the pool
	// opens later must never create one, or a database deleted under a
	// running serve would come back empty, with SQLite's default mode, at
	// the path operators read.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	dsn := (&url.URL{Scheme: "file", Path: abs}).String() + fmt.Sprintf("?mode=rw&_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate", busyTimeoutMS)
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	sqldb.SetMaxOpenConns(maxOpenConns)
	// Idle connections are kept: each holds its prepared statements
	// (stmt.go) and its page cache.
	sqldb.SetMaxIdleConns(maxOpenConns)
	db := &DB{sql: sqldb, path: path, stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return err
		}
		return migrate(ctx, tx)
	}); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite: open %s: schema: %w", path, err)
	}
	// The file is identified once the schema is in it: from here on it is
	// the file this process writes to, and another one at path is an error.
	if err := db.file.remember(path); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// SQLite made -wal and -shm with the database's mode; files left by an
	// older version may be wider.
	if err := restrictFiles(path); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.commits = make(chan *writeOp, commitBacklog)
	db.checkpointDone = make(chan struct{})
	go db.checkpointLoop()
	if o.noCommitter {
		close(db.stopped)
	} else {
		go db.commitLoop()
	}
	return db, nil
}

// openReadOnly opens an existing database with SQLite's mode=ro. In a folder
// this process cannot write to, SQLite cannot make the -shm file WAL readers
// need; if there is no -wal file either, no writer can be at work (it would
// have made one), and the file is opened immutable, which needs neither.
func openReadOnly(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sqlite: no database at %s to read (nothing written there yet?): %w", path, fs.ErrNotExist)
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	uri := (&url.URL{Scheme: "file", Path: abs}).String()
	params := fmt.Sprintf("mode=ro&_pragma=busy_timeout(%d)&_pragma=query_only(1)", busyTimeoutMS)
	db, err := openURI(ctx, path, uri+"?"+params)
	if err != nil {
		if _, walErr := os.Stat(path + "-wal"); !cannotMakeSHM(err) || !errors.Is(walErr, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
		}
		if db, err = openURI(ctx, path, uri+"?"+params+"&immutable=1"); err != nil {
			return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
		}
	}
	if err := db.file.remember(path); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	return db, nil
}

// cannotMakeSHM reports whether err is SQLite failing to open or create a
// file (SQLITE_CANTOPEN, SQLITE_READONLY and their extended codes), as it
// does when the -shm file cannot be made; any other failure is reported as
// it is.
func cannotMakeSHM(err error) bool {
	return hasCode(err, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY)
}

// hasCode reports whether err is a SQLite error whose primary result code
// (the low byte of an extended code) is one of codes.
func hasCode(err error, codes ...int) bool {
	var e *sqlitedriver.Error
	return errors.As(err, &e) && slices.Contains(codes, e.Code()&0xff)
}

// openURI opens dsn and reads the schema, so a file that cannot be read (or
// is not a database) fails here rather than at the first query.
func openURI(ctx context.Context, path, dsn string) (*DB, error) {
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	sqldb.SetMaxOpenConns(maxOpenConns)
	var n int
	if err := sqldb.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE name = 'queue_messages'`).Scan(&n); err != nil {
		sqldb.Close()
		return nil, err
	}
	if n == 0 {
		sqldb.Close()
		return nil, fmt.Errorf("%w: %s is not an orderflow database (no queue_messages table)", domain.ErrInvalid, path)
	}
	return &DB{sql: sqldb, path: path, readOnly: true, stop: make(chan struct{}), stopped: make(chan struct{})}, nil
}

// prepareFiles makes the database file 0600 before SQLite opens it: SQLite
// gives -wal and -shm the database's mode, so they follow. An existing file
// only loses group and other bits; a read-only file stays read-only.
func prepareFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		f.Close()
		// Exactly 0600, whatever the umask took off.
		if err := os.Chmod(path, 0o600); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrExist):
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: cannot create the database file: %v", ErrReadOnly, err)
	default:
		return err
	}
	if err := restrictFiles(path); err != nil {
		return err
	}
	// A file or folder this process cannot write to would fail later, at the
	// first write, with SQLite's terse "attempt to write a readonly database".
	if err := writable(path); err != nil {
		return err
	}
	return nil
}

// restrictFiles takes group and other permissions off the database, -wal and
// -shm files, whatever made them.
func restrictFiles(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			if err := os.Chmod(p, mode&0o700); err != nil {
				return fmt.Errorf("make %s private (mode %#o): %w", p, mode&0o700, err)
			}
		}
	}
	return nil
}

// migrate brings a database made by an earlier version up to the schema:
// CREATE TABLE IF NOT EXISTS leaves an existing table's columns as they were.
func migrate(ctx context.Context, tx *sql.Tx) error {
	// queue_messages_group indexed every message by group; only a message
	// received at least once can be in flight, so queue_messages_in_flight
	// indexes those alone, and a send no longer writes a page of it (a
	// random one: groups are payment intents): about two fifths of the WAL
	// pages a commit of sends wrote.
	if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS queue_messages_group`); err != nil {
		return err
	}
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
// Writes already handed to the group committer are finished first.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closing.Lock()
		db.closed = true
		db.closing.Unlock()
		close(db.stop)
		if db.commits != nil {
			<-db.stopped
		}
		if db.checkpointDone != nil {
			<-db.checkpointDone
		}
		db.closeStmts()
	})
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", db.path, err)
	}
	return nil
}

// tx runs fn in one BEGIN IMMEDIATE transaction, committing when fn succeeds.
func (db *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := db.canWrite(false); err != nil {
		return err
	}
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

// exec runs one write statement outside a transaction (a single statement is
// its own transaction).
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := db.canWrite(false); err != nil {
		return nil, err
	}
	return db.sql.ExecContext(ctx, query, args...)
}

// canWrite fails on a read-only database and on one whose file is gone or
// replaced (file.go); strict checks the file now rather than trusting a check
// less than fileCheckEvery old.
func (db *DB) canWrite(strict bool) error {
	if db.readOnly {
		return fmt.Errorf("sqlite: %s: %w (opened for reading only); writing needs a read-write open", db.path, ErrReadOnly)
	}
	if err := db.damaged(); err != nil {
		return err
	}
	return db.file.check(strict)
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}
