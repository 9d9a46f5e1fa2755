package lambdaenv_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/lambdaenv"
)

func TestWithMargin(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(time.Hour)
	withDeadline, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	tests := []struct {
		name         string
		ctx          context.Context
		wantDeadline time.Time
	}{
		{"deadline moves earlier by the margin", withDeadline, deadline.Add(-5 * time.Second)},
		{"no deadline stays none", context.Background(), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := lambdaenv.WithMargin(tt.ctx, 5*time.Second)
			defer cancel()
			got, ok := ctx.Deadline()
			if ok != !tt.wantDeadline.IsZero() || !got.Equal(tt.wantDeadline) {
				t.Errorf("deadline = %v (set: %v), want %v", got, ok, tt.wantDeadline)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	errExtra := errors.New("invalid configuration: EXTRA is not set")
	tests := []struct {
		name    string
		env     map[string]string
		check   func(config.Config) error
		wantErr string
	}{
		{"bad configuration", map[string]string{"ORDERFLOW_BACKEND": "sqlite", "LOG_LEVEL": "loud"}, nil, "LOG_LEVEL"},
		{"the function's own check", map[string]string{"ORDERFLOW_BACKEND": "sqlite"}, func(config.Config) error { return errExtra }, "EXTRA"},
		{"sqlite opens", map[string]string{"ORDERFLOW_BACKEND": "sqlite", "LOG_LEVEL": "warn"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.env["ORDERFLOW_DB"] = filepath.Join(t.TempDir(), "orderflow.db")
			env, err := lambdaenv.Open(context.Background(), "test", func(k string) string { return tt.env[k] }, backend.Parts{Store: true}, tt.check)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer func() {
				if err := env.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			if env.Backend.Store == nil || env.Log == nil || env.Metrics == nil || env.Config.Backend != config.BackendSQLite {
				t.Errorf("Open gave %+v, want a store, a logger and metrics on sqlite", env)
			}
			env.Ready()
		})
	}
}
