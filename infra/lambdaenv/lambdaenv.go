// Package lambdaenv is the start-up the Lambda mains share: configuration,
// logger, backend and metrics built once per container before lambda.Start,
// the "ready" line, a readable init failure, and the deadline margin a
// handler keeps free. Each main keeps only what is particular to its function,
// so the four functions cannot drift apart in how they start.
package lambdaenv

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
)

// Env is what a function builds its handler from.
type Env struct {
	Config  config.Config
	Log     *zap.Logger
	Backend *backend.Backend
	Metrics *metrics.Recorder

	start time.Time
}

// Open loads the Lambda configuration through getenv, applies check (nil for
// none) so a function can add its own requirements to the same error, builds
// the logger tagged with function and opens parts of the backend. The caller
// owns the result and calls Close if it cannot build its handler.
func Open(ctx context.Context, function string, getenv func(string) string, parts backend.Parts, check func(config.Config) error) (*Env, error) {
	start := time.Now()
	cfg, err := config.LoadLambda(getenv)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return nil, err
		}
	}
	log, err := logging.New(os.Stdout, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return nil, err
	}
	log = log.With(zap.String("function", function))
	be, err := backend.Open(ctx, cfg, parts, log)
	if err != nil {
		return nil, err
	}
	return &Env{Config: cfg, Log: log, Backend: be, Metrics: metrics.New(os.Stdout), start: start}, nil
}

// Ready logs that the function is initialised, with the time init took, which
// is what a cold start costs on top of the runtime's own.
func (e *Env) Ready() {
	e.Log.Info("ready", zap.String("backend", e.Config.Backend), zap.Duration("initSeconds", time.Since(e.start)))
}

// Close releases the backend (it matters for SQLite in tests).
func (e *Env) Close() error { return e.Backend.Close() }

// Start builds the handler with newHandler from the process environment and
// hands it to lambda.Start; a build error ends the process through Fail.
func Start[H any](function string, newHandler func(context.Context, func(string) string) (H, func() error, error)) {
	h, _, err := newHandler(context.Background(), os.Getenv)
	if err != nil {
		Fail(function, err)
	}
	lambda.Start(h)
}

// Fail reports a bad configuration as one log line and exits, so the Lambda
// init fails with a readable cause instead of a panic stack.
func Fail(function string, err error) {
	if log, lerr := logging.New(os.Stdout, "info", "json"); lerr == nil {
		log.Error(function+" cannot start: "+err.Error(), zap.String("function", function))
	} else {
		fmt.Fprintf(os.Stdout, "%s cannot start: %v\n", function, err)
	}
	os.Exit(1)
}

// WithMargin returns ctx with its deadline, if it has one, moved margin
// earlier, so a handler stops in time to report how far it got instead of
// being cut off by the invocation timeout. Without a deadline ctx is
// returned as is.
func WithMargin(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, deadline.Add(-margin))
}
