//go:build !nosqlite

package backend_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/sqlite"
)

func TestSQLiteBackendOpensEveryPart(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.DBPath = filepath.Join(t.TempDir(), "of.db")
	be, err := backend.Open(context.Background(), cfg, backend.All, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if be.Store == nil || be.Events == nil || be.DLQ == nil || be.Secrets == nil {
		t.Fatalf("missing parts: %+v", be)
	}
}

func TestSecretsFromEnvironment(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.DBPath = filepath.Join(t.TempDir(), "of.db")
	cfg.StripeWebhookSecret = "whsec_a,whsec_b"
	be, err := backend.Open(context.Background(), cfg, backend.Parts{Store: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	got, err := be.Secrets.WebhookSecrets(context.Background())
	if err != nil || len(got) != 2 || got[0] != "whsec_a" || got[1] != "whsec_b" {
		t.Fatalf("WebhookSecrets = %v, %v", got, err)
	}
}

func TestReadOnlyPartsOpenWithoutWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.DBPath = filepath.Join(t.TempDir(), "of.db")
	if _, err := backend.Open(ctx, cfg, backend.Parts{Store: true, ReadOnly: true}, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only open of a missing database = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(cfg.DBPath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a read-only open created %s", cfg.DBPath)
	}
	rw, err := backend.Open(ctx, cfg, backend.All, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if err := rw.Health(ctx); err != nil {
		t.Errorf("Health of a fresh database: %v", err)
	}
	ro, err := backend.Open(ctx, cfg, backend.Parts{Store: true, DLQ: true, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.DLQ.Peek(ctx, 10); err != nil {
		t.Errorf("Peek on a read-only open: %v", err)
	}
	if _, err := ro.DLQ.Send(ctx, domain.OutgoingMessage{Body: []byte("{}"), GroupID: "g", DedupID: "d"}); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Errorf("Send on a read-only open = %v, want ErrReadOnly", err)
	}
}
