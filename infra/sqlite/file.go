package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// fileCheckEvery bounds how stale a passed file check may be for writes
// outside the group committer (Create, the schema). The committer, which
// commits every other write, checks before every commit.
const fileCheckEvery = 100 * time.Millisecond

// ErrFileLost means the database file this process opened is no longer the
// one at its path: deleted, or replaced by another file. SQLite keeps writing
// to the open (orphaned) file, so every write from then on would be lost on
// restart; the DB refuses them instead, for good.
var ErrFileLost = errors.New("database file gone or replaced")

// fileWatch remembers which file (device and inode, through os.SameFile) the
// database was opened on and notices when the path stops naming it.
type fileWatch struct {
	mu     sync.Mutex
	path   string
	opened os.FileInfo // nil until remember
	lost   error       // sticky: once lost, always lost
	okAt   time.Time   // when a check last passed
}

// writable fails, with the reason, when this process cannot open path for
// writing: SQLite would otherwise open it read-only without a word and fail
// at the first write with "attempt to write a readonly database".
func writable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("%w: cannot write to the file (read-only commands still work): %v", ErrReadOnly, err)
	}
	return f.Close()
}

func (w *fileWatch) remember(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.path, w.opened, w.okAt = path, fi, time.Now()
	return nil
}

// check fails when the file at the path is not the one opened. Unless strict,
// a check that passed less than fileCheckEvery ago is trusted.
func (w *fileWatch) check(strict bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost != nil {
		return w.lost
	}
	if w.opened == nil || (!strict && time.Since(w.okAt) < fileCheckEvery) {
		return nil
	}
	fi, err := os.Stat(w.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		w.lost = fmt.Errorf("%w: %s was deleted while open; no more writes are accepted; restart to open a new database", ErrFileLost, w.path)
	case err != nil:
		// Not necessarily lost (a permission change on the folder, say), so
		// not sticky; the write still fails, since the file cannot be checked.
		return fmt.Errorf("check database file %s: %w", w.path, err)
	case !os.SameFile(w.opened, fi):
		w.lost = fmt.Errorf("%w: %s is not the file opened (replaced, or deleted and made again); no more writes are accepted; restart to open it", ErrFileLost, w.path)
	default:
		w.okAt = time.Now()
		return nil
	}
	return w.lost
}

// Check reports whether the database can accept writes now, by doing what a
// send does: it checks that the file is still the one opened, takes the write
// lock, writes a row into the queue table, deletes it and commits through
// the group committer, fsync included. So a deleted or replaced file, a full
// disk, a read-only or corrupt file, or a lock held elsewhere for longer than
// the busy timeout each make it fail, with SQLite's reason. /healthz calls it.
func (db *DB) Check(ctx context.Context) error {
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO queue_messages (queue, id, group_id, dedup_id, body, attributes, sent_at)
			VALUES ('', 'health-check', 'health-check', '', x'', '{}', 0)`)
		if err != nil {
			return err
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM queue_messages WHERE seq = ?`, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: %s cannot accept writes: %w", db.path, err)
	}
	return nil
}
