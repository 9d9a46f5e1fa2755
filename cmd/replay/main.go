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
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/lambdaenv"
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

func main() { lambdaenv.Start(function, newHandler) }

// newHandler builds the handler from the environment read through getenv. The
// returned cleanup releases the backend (it matters for SQLite in tests).
func newHandler(ctx context.Context, getenv func(string) string) (*handler, func() error, error) {
	env, err := lambdaenv.Open(ctx, function, getenv, backend.Parts{Events: true, DLQ: true}, nil)
	if err != nil {
		return nil, nil, err
	}
	r, err := workers.NewReplayer(workers.ReplayConfig{
		DLQ: env.Backend.DLQ, Events: env.Backend.Events, Logger: env.Log, Metrics: env.Metrics,
		MaxReplays: env.Config.MaxReplays, Clock: domain.SystemClock{},
	})
	if err != nil {
		_ = env.Close()
		return nil, nil, err
	}
	env.Ready()
	return &handler{replayer: r, log: env.Log}, env.Close, nil
}

// Invoke runs one redrive.
func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	opts, err := parse(payload)
	if err != nil {
		return nil, err
	}
	ctx, cancel := lambdaenv.WithMargin(ctx, deadlineMargin)
	defer cancel()
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
