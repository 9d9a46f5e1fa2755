package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// createPrivate makes the database file, empty, readable by its owner only
// before SQLite would create it with 0644: it holds buyers' orders, and the
// WAL and shared-memory files SQLite adds later copy its mode. An existing
// file is left as it is (`orderflow doctor` reports its mode).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// IntegrityCheck runs PRAGMA integrity_check and returns nil when SQLite
// answers "ok", else an error quoting its first findings (`orderflow
// doctor`, SPEC §15).
func (db *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := db.sql.QueryContext(ctx, "PRAGMA integrity_check(20)")
	if err != nil {
		return fmt.Errorf("sqlite: integrity check of %s: %w", db.path, err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("sqlite: integrity check of %s: %w", db.path, err)
		}
		if line != "ok" {
			found = append(found, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: integrity check of %s: %w", db.path, err)
	}
	if len(found) > 0 {
		return fmt.Errorf("sqlite: %s fails its integrity check: %s", db.path, strings.Join(found, "; "))
	}
	return nil
}
