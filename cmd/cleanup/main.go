// Command cleanup is the CleanupFailedPaymentsFunction Lambda: a manual run of
// the failed-payment cleanup (SPEC §7) through workers.Cleanup, the same code
// the scheduled cleanup.run message and `orderflow cleanup run` use. It
// answers {"cancelled": N}.
//
// Any payload works: empty, {}, null or an EventBridge scheduled event run
// with CLEANUP_FAILED_PAYMENT_MINUTES; {"minutes": N} overrides the age.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
const function = "cleanup"

// request is the optional invoke payload.
type request struct {
	// Minutes overrides CLEANUP_FAILED_PAYMENT_MINUTES for this run.
	Minutes *int `json:"minutes"`
}

// response is the invoke result.
type response struct {
	Cancelled int `json:"cancelled"`
}

// handler takes the raw payload (lambda.Handler) rather than a typed one,
// because aws-lambda-go's JSON decoding rejects an empty payload, which the
// console and `aws lambda invoke` without --payload send.
type handler struct {
	cleanup *workers.Cleanup
	age     time.Duration
	log     *zap.Logger
}

var _ lambda.Handler = (*handler)(nil)

func main() { lambdaenv.Start(function, newHandler) }

// newHandler builds the handler from the environment read through getenv. The
// returned cleanup releases the backend (it matters for SQLite in tests).
func newHandler(ctx context.Context, getenv func(string) string) (*handler, func() error, error) {
	env, err := lambdaenv.Open(ctx, function, getenv, backend.Parts{Store: true}, nil)
	if err != nil {
		return nil, nil, err
	}
	age := env.Config.CleanupAfter()
	c := workers.NewCleanup(workers.Deps{
		Store: env.Backend.Store, Clock: domain.SystemClock{}, Logger: env.Log,
		Metrics: env.Metrics, CleanupAfter: age,
	})
	env.Ready()
	return &handler{cleanup: c, age: age, log: env.Log}, env.Close, nil
}

// Invoke runs one cleanup.
func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	age, err := h.parse(payload)
	if err != nil {
		return nil, err
	}
	n, err := h.cleanup.Run(ctx, age)
	if err != nil {
		// Orders cancelled before the failure stay cancelled; a rerun picks up
		// the rest, so the error is reported with the count.
		return nil, fmt.Errorf("cleanup cancelled %d orders, then failed: %w", n, err)
	}
	h.log.Info("cleanup finished", zap.Int("cancelled", n), zap.Duration("olderThan", age))
	return json.Marshal(response{Cancelled: n})
}

// parse reads the age from the payload. Fields other than minutes (those of a
// scheduled event, say) are ignored; a payload that is not an object is
// rejected rather than guessed at.
func (h *handler) parse(payload []byte) (time.Duration, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || bytes.Equal(payload, []byte("null")) {
		return h.age, nil
	}
	if payload[0] != '{' {
		return 0, errors.New(`invalid payload: want a JSON object such as {} or {"minutes": 30}`)
	}
	var req request
	if err := json.Unmarshal(payload, &req); err != nil {
		return 0, fmt.Errorf(`invalid payload: want {"minutes": N}: %w`, err)
	}
	if req.Minutes == nil {
		return h.age, nil
	}
	if *req.Minutes < 1 {
		return 0, fmt.Errorf("invalid payload: minutes %d: want at least 1", *req.Minutes)
	}
	return time.Duration(*req.Minutes) * time.Minute, nil
}
