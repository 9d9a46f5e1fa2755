package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/queuetest"
	"github.com/orderflow/orderflow/infra/sqlite"
	"github.com/orderflow/orderflow/infra/storetest"
)

// openTemp opens a fresh database file that lives as long as the test.
func openTemp(t *testing.T) *sqlite.DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "data", "orderflow.db"))
}

func openAt(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) domain.Store { return sqlite.NewStore(openTemp(t)) })
}

func TestQueueContract(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T, o queuetest.Options) queuetest.Queues {
		db := openTemp(t)
		events, err := sqlite.NewQueue(db, sqlite.QueueConfig{
			Name: "events", VisibilityTimeout: o.VisibilityTimeout, MaxReceives: o.MaxReceives, DeadLetterQueue: "events-dlq",
		})
		if err != nil {
			t.Fatalf("NewQueue(events): %v", err)
		}
		dlq, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events-dlq", VisibilityTimeout: o.VisibilityTimeout})
		if err != nil {
			t.Fatalf("NewQueue(events-dlq): %v", err)
		}
		return queuetest.Queues{Events: events, DLQ: dlq}
	})
}
