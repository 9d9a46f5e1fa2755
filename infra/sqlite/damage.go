package sqlite

import (
	"errors"
	"fmt"
	"sync"

	sqlite3 "modernc.org/sqlite/lib"
)

// ErrDamaged is what every write answers once SQLite has reported the file
// damaged (SQLITE_CORRUPT or SQLITE_NOTADB) to this process.
var ErrDamaged = errors.New("database file damaged")

// damage remembers the first time SQLite said the file is damaged. A damaged
// page is found only by a statement that reads it: the health probe (which
// writes the queue table) can pass while the orders table is unreadable, so
// every read and write of the store and the queue reports what it saw here,
// and from then on writes are refused and /healthz fails with the reason:
// a webhook accepted into a damaged file may never be applied, and only a
// restore from a backup repairs it. It is sticky until a restart.
type damage struct {
	mu  sync.Mutex
	err error
}

// noteDamage records err if it is SQLite reporting a damaged file, and
// returns err as it was, so call sites can wrap their results with it.
func (db *DB) noteDamage(err error) error {
	if err == nil || !isDamage(err) {
		return err
	}
	db.damage.mu.Lock()
	defer db.damage.mu.Unlock()
	if db.damage.err == nil {
		db.damage.err = fmt.Errorf("%w: SQLite reported %s (%v); no more writes are accepted: run `orderflow doctor` (its integrity check names the damage), restore the file from a backup and restart",
			ErrDamaged, db.path, err)
	}
	return err
}

// damaged returns the recorded damage, or nil.
func (db *DB) damaged() error {
	db.damage.mu.Lock()
	defer db.damage.mu.Unlock()
	return db.damage.err
}

// isDamage reports whether err is SQLite's SQLITE_CORRUPT or SQLITE_NOTADB
// (primary or extended code).
func isDamage(err error) bool {
	return hasCode(err, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
}
