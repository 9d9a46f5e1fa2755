// Command replay is the ReplayFunction Lambda: it moves dead-lettered
// messages back to the events queue through workers.Replayer, the same redrive
// as `orderflow dlq redrive` (SPEC §6).
//
// Payload {"limit": N, "type": "…", "dryRun": bool}, every field optional (an
// empty payload redrives everything); it answers
// {"moved": …, "parked": …, "remaining": …}.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
	"github.com/orderflow/orderflow/workers"
)

// function names this Lambda in its log lines.
const function = "replay"

// deadlineMargin is kept free before the invocation deadline so that a long
// redrive stops in time to release the DLQ messages it holds and report how
// far it got, instead of being cut off by the timeout.
const deadlineMargin = 5 * time.Second

// handler takes the raw payload (lambda.Handler) so that an empty payload
// works and unknown fields are refused: a mistyped "dryRun" must not turn a
// dry run into a real one.
type handler struct {
	replayer *workers.Replayer
	log      *zap.Logger
}

var _ lambda.Handler = (*handler)(nil)

func main() {
	h, _, err := newHandler(context.Background(), os.Getenv)
	if err != nil {
		initFailed(err)
	}
	lambda.Start(h)
}

// newHandler builds the handler from the environment read through getenv. The
// returned cleanup releases the backend (it matters for SQLite in tests).
func newHandler(ctx context.Context, getenv func(string) string) (*handler, func() error, error) {
	start := time.Now()
	cfg, err := config.LoadLambda(getenv)
	if err != nil {
		return nil, nil, err
	}
	log, err := logging.New(os.Stdout, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return nil, nil, err
	}
	log = log.With(zap.String("function", function))
	be, err := backend.Open(ctx, cfg, backend.Parts{Events: true, DLQ: true}, log)
	if err != nil {
		return nil, nil, err
	}
	r, err := workers.NewReplayer(workers.ReplayConfig{
		DLQ: be.DLQ, Events: be.Events, Logger: log, Metrics: metrics.New(os.Stdout),
		MaxReplays: cfg.MaxReplays, Clock: domain.SystemClock{},
	})
	if err != nil {
		_ = be.Close()
		return nil, nil, err
	}
	log.Info("ready", zap.String("backend", cfg.Backend), zap.Duration("initSeconds", time.Since(start)))
	return &handler{replayer: r, log: log}, be.Close, nil
}

// Invoke runs one redrive.
func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	opts, err := parse(payload)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-deadlineMargin))
		defer cancel()
	}
	sum, err := h.replayer.Redrive(ctx, opts)
	if err != nil {
		// A Lambda error carries no result, so the progress goes in the message.
		return nil, fmt.Errorf("redrive stopped after moving %d and parking %d (%d remain in the DLQ): %w", sum.Moved, sum.Parked, sum.Remaining, err)
	}
	return json.Marshal(sum)
}

// parse reads the redrive options; empty and null mean the defaults.
func parse(payload []byte) (workers.RedriveOptions, error) {
	var opts workers.RedriveOptions
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || bytes.Equal(payload, []byte("null")) {
		return opts, nil
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&opts); err != nil {
		return opts, fmt.Errorf(`invalid payload: want {"limit": N, "type": "…", "dryRun": true|false}: %w`, err)
	}
	if opts.Limit < 0 {
		return opts, fmt.Errorf("invalid payload: limit %d must not be negative", opts.Limit)
	}
	return opts, nil
}

// initFailed reports a bad configuration as one log line and exits, so the
// Lambda init fails with a readable cause instead of a panic stack.
func initFailed(err error) {
	if log, lerr := logging.New(os.Stdout, "info", "json"); lerr == nil {
		log.Error(function+" cannot start: "+err.Error(), zap.String("function", function))
	} else {
		fmt.Fprintf(os.Stdout, "%s cannot start: %v\n", function, err)
	}
	os.Exit(1)
}
