//go:build !nosqlite

package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/sqlite"
)

// sqliteChecks: the database file exists and only its owner can read it
// (it holds buyers' orders; the dev signing secret sits next to it), SQLite
// finds it intact, and its dead-letter queue is empty. The file is opened
// read-only: a missing one is reported, never created, and nothing is written.
func (d *doctor) sqliteChecks(ctx context.Context) {
	path := d.cfg.DBPath
	exists := d.check(ctx, CheckSQLiteFile, func(context.Context) (string, error) {
		st, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("no database at %s (ORDERFLOW_DB): orderflow serve creates it", path)
		}
		if err != nil {
			return "", err
		}
		if !st.Mode().IsRegular() {
			return "", fmt.Errorf("%s is not a regular file", path)
		}
		return fmt.Sprintf("%s (%d bytes)", path, st.Size()), nil
	})
	if !exists {
		for _, name := range []string{CheckSQLitePermissions, CheckSQLiteIntegrity, CheckDLQEmpty} {
			d.skip(name, "no database (see "+CheckSQLiteFile+")")
		}
		return
	}
	d.check(ctx, CheckSQLitePermissions, func(context.Context) (string, error) {
		var open []string
		mode := os.FileMode(0)
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			if err != nil {
				continue // the WAL files come and go
			}
			if p == path {
				mode = st.Mode().Perm()
			}
			if st.Mode().Perm()&0o077 != 0 {
				open = append(open, fmt.Sprintf("%s is %04o", p, st.Mode().Perm()))
			}
		}
		if len(open) > 0 {
			return "", fmt.Errorf("other users can read the orders: %s; chmod 600 them", strings.Join(open, ", "))
		}
		return fmt.Sprintf("%s is %04o (owner only)", path, mode), nil
	})
	var db *sqlite.DB
	d.check(ctx, CheckSQLiteIntegrity, func(ctx context.Context) (string, error) {
		var err error
		if db, err = sqlite.Open(ctx, path, sqlite.ReadOnly()); err != nil {
			return "", err
		}
		if err := db.IntegrityCheck(ctx); err != nil {
			return "", err
		}
		return "PRAGMA integrity_check: ok", nil
	})
	if db == nil {
		d.skip(CheckDLQEmpty, "the database does not open (see "+CheckSQLiteIntegrity+")")
		return
	}
	defer db.Close()
	d.check(ctx, CheckDLQEmpty, func(ctx context.Context) (string, error) {
		q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: backend.SQLiteDLQ, VisibilityTimeout: d.cfg.VisibilityTimeout})
		if err != nil {
			return "", err
		}
		st, err := q.Stats(ctx)
		if err != nil {
			return "", err
		}
		return dlqDetail(st.Visible, st.InFlight)
	})
}
