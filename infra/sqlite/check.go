package sqlite

import (
	"context"
	"fmt"
	"strings"
)

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
