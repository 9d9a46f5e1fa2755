package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/infra/backend"
)

// healthTimeout bounds one /healthz probe: a database that cannot take a
// write within it is not accepting either.
const healthTimeout = 5 * time.Second

// databaseWatchEvery is how often serve checks, on its own, that its
// database can still take writes, so a lost file is logged even when no
// webhook arrives and no one asks /healthz.
const databaseWatchEvery = 2 * time.Second

// healthHandler answers GET /healthz with what accepting a webhook needs: 200
// {"status":"ok"}, or 503 {"status":"unavailable","reason":…} when the
// backend cannot take a write now (SQLite: file gone or replaced, read-only,
// full, corrupt, locked), so a supervisor or load balancer sees what the
// webhook endpoint's 503s mean.
func healthHandler(be *backend.Backend) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := checkHealth(r.Context(), be); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	}
}

func checkHealth(ctx context.Context, be *backend.Backend) error {
	if be.Health == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	err := be.Health(ctx)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("the database did not take a test write within %v (locked or stuck): %w", healthTimeout, err)
	}
	return err
}

// watchDatabase logs an error when the backend stops being able to take
// writes (the webhook endpoint answers 503 from then on) and an info line if
// it recovers, until ctx ends.
func (a *app) watchDatabase(ctx context.Context, be *backend.Backend) {
	if be.Health == nil {
		return
	}
	ticker := time.NewTicker(databaseWatchEvery)
	defer ticker.Stop()
	var failing error
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := checkHealth(ctx, be)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && failing == nil:
			a.log.Error("the database cannot accept writes: webhooks are refused with 503 until this is fixed", zap.Error(err))
		case err == nil && failing != nil:
			a.log.Info("the database accepts writes again")
		}
		failing = err
	}
}
