//go:build nosqlite

package backend_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
)

func TestNoSQLiteBuildRefusesSQLite(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.DBPath = filepath.Join(t.TempDir(), "of.db")
	_, err := backend.Open(context.Background(), cfg, backend.All, nil)
	if err == nil || !strings.Contains(err.Error(), "ORDERFLOW_BACKEND=aws") {
		t.Fatalf("err = %v, want a clear refusal naming ORDERFLOW_BACKEND=aws", err)
	}
}
