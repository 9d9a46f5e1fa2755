//go:build !nosqlite

package backend

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/sqlite"
)

// openSQLite opens the embedded default: store and both queues in one file.
func openSQLite(ctx context.Context, cfg config.Config, parts Parts, b *Backend) error {
	var opts []sqlite.Option
	if parts.ReadOnly {
		opts = append(opts, sqlite.ReadOnly())
	}
	db, err := sqlite.Open(ctx, cfg.DBPath, opts...)
	if err != nil {
		return fmt.Errorf("open %s: %w", cfg.DBPath, err)
	}
	b.close = db.Close
	b.Health = db.Check
	b.Store = sqlite.NewStore(db)
	if !parts.Events && !parts.DLQ {
		return nil
	}
	dlq, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: SQLiteDLQ, VisibilityTimeout: cfg.VisibilityTimeout})
	if err != nil {
		_ = db.Close()
		return err
	}
	events, err := sqlite.NewQueue(db, sqlite.QueueConfig{
		Name: SQLiteEventsQueue, VisibilityTimeout: cfg.VisibilityTimeout,
		MaxReceives: cfg.MaxReceives, DeadLetterQueue: SQLiteDLQ,
	})
	if err != nil {
		_ = db.Close()
		return err
	}
	b.Events, b.DLQ = events, dlq
	return nil
}
