package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/orderflow/orderflow/admin"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/ingress"
	"github.com/orderflow/orderflow/workers"
)

// workerLoops is how many receive loops serve runs, so that one loop
// settling a batch does not keep the next batch waiting; within a batch the
// dispatcher works on up to ORDERFLOW_WORKER_CONCURRENCY groups at once. FIFO
// group blocking in the queue keeps each payment's events in order however
// many loops there are: two loops never hold messages of one group.
const workerLoops = 4

// shutdownGrace bounds the HTTP drain on SIGTERM; queued work is never lost
// either way, it is only redelivered after the visibility timeout.
const shutdownGrace = 10 * time.Second

func (a *app) serveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run ingress, workers and the cleanup schedule in one process",
		Example: `  orderflow serve
  ORDERFLOW_ADDR=127.0.0.1:9090 ORDERFLOW_DB=/tmp/of.db orderflow serve`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context()) },
	}
}

func (a *app) serve(ctx context.Context) error {
	generated := ""
	if a.cfg.StripeWebhookSecret == "" && a.cfg.StripeWebhookSecretARN == "" {
		secret, path, err := devWebhookSecret(a.cfg)
		if err != nil {
			return err
		}
		a.cfg.StripeWebhookSecret, generated = secret, path
	}
	be, err := a.open(ctx, backend.All)
	if err != nil {
		return err
	}
	handler, err := ingress.NewHandler(ingress.Config{Queue: be.Events, Secrets: be.Secrets, Logger: a.log, Metrics: a.metrics, Clock: a.clock, Mode: a.cfg.StripeMode})
	if err != nil {
		return err
	}
	dispatcher, err := workers.NewDispatcher(workers.Config{
		Handlers: workers.StandardHandlers(a.deps(be)), DeadLetter: be.DLQ,
		Logger: a.log, Metrics: a.metrics, Clock: a.clock, RetryBudget: workers.RetryBudget(a.cfg.VisibilityTimeout),
		BatchTime: workers.BatchTime(a.cfg.VisibilityTimeout), Concurrency: a.cfg.WorkerConcurrency,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", healthHandler(be))
	mux.Handle("/", handler)
	adminHandler, devAdmin, err := a.adminHandler(ctx, be)
	if err != nil {
		return err
	}
	for _, p := range []string{admin.APIPrefix, admin.ConsolePrefix, admin.ConsolePrefix + "/", admin.AccessPath, admin.V1Prefix} {
		mux.Handle(p, adminHandler)
	}
	go a.watchDatabase(ctx, be)
	listener, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	// Bounded reads and writes: a client that trickles a webhook body must not
	// hold a connection (and a goroutine) for ever.
	srv := &http.Server{
		Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		// Stripe's headers are small and API Gateway caps them at 10 KB; the
		// 1 MB default would let a 660 KB header reach the handler.
		MaxHeaderBytes: 64 << 10,
	}

	fmt.Fprintf(a.stderr, "orderflow: listening on http://%s (POST /webhooks/stripe, GET /healthz), backend %s", listener.Addr(), a.cfg.Backend)
	if a.cfg.Backend == config.BackendSQLite {
		fmt.Fprintf(a.stderr, " at %s", a.cfg.DBPath)
	}
	fmt.Fprintln(a.stderr)
	if generated != "" {
		// A development secret made by this install, not a Stripe one: showing
		// it is how the developer signs test events. Only on a terminal,
		// though: a pipe or a service manager keeps what it collects in logs
		// that others read, and the file is there for whoever needs the value.
		if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprintf(a.stderr, "orderflow: webhook signing secret (dev, kept in %s): %s\n", generated, a.cfg.StripeWebhookSecret)
		} else {
			fmt.Fprintf(a.stderr, "orderflow: webhook signing secret (dev) is kept in %s; it is shown only when stderr is a terminal\n", generated)
		}
	}
	a.printDevToken(devAdmin, listener.Addr().String())

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	errs := make(chan error, workerLoops+2)
	for i := 0; i < workerLoops; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := dispatcher.Run(workCtx, be.Events); err != nil {
				errs <- fmt.Errorf("worker: %w", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.scheduleCleanup(workCtx, be.Events)
	}()
	go func() {
		if err := srv.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("http: %w", err)
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down: draining in-flight work")
	case runErr = <-errs:
		a.log.Error("stopping after a fatal error", zap.Error(runErr))
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	stopWork()
	wg.Wait()
	a.log.Info("stopped")
	return runErr
}

// scheduleCleanup is the local stand-in for the EventBridge schedule: it
// enqueues {"type":"cleanup.run"} every interval. The dedup id is the
// interval's slot, so two processes on one database enqueue it once.
func (a *app) scheduleCleanup(ctx context.Context, q domain.Queue) {
	ticker := time.NewTicker(a.cfg.CleanupInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		slot := a.clock.Now().Truncate(a.cfg.CleanupInterval).Unix()
		_, err := domain.Enqueue(ctx, q, domain.OutgoingMessage{
			Body:    []byte(`{"type":"cleanup.run"}`),
			GroupID: domain.CleanupGroup,
			DedupID: "cleanup-" + strconv.FormatInt(slot, 10),
			Attributes: map[string]string{
				domain.AttrEventType: domain.EventCleanupRun, domain.AttrSource: domain.SourceSchedule,
			},
		})
		if err != nil && ctx.Err() == nil {
			a.log.Warn("could not enqueue the scheduled cleanup", zap.Error(err))
		}
	}
}

// devWebhookSecret returns the development signing secret kept next to the
// database, making one on first run, and the file it is kept in.
func devWebhookSecret(cfg config.Config) (secret, path string, err error) {
	dir := filepath.Dir(cfg.DBPath)
	path = filepath.Join(dir, "webhook-secret")
	if b, err := readPrivate(path); err == nil {
		if s := strings.TrimSpace(string(b)); strings.HasPrefix(s, "whsec_") {
			return s, path, nil
		}
		return "", "", fmt.Errorf("%s does not hold a whsec_ signing secret; delete it to make a new one", path)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create data folder: %w", err)
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", "", err
	}
	secret = "whsec_" + hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("keep the webhook secret: %w", err)
	}
	return secret, path, nil
}
