// Command worker is the WorkerFunction Lambda: batches from the SQS FIFO
// events queue (event source with ReportBatchItemFailures) go through
// Dispatcher.HandleSQS, the same dispatcher and typed handlers that
// `orderflow serve` polls with.
//
// It opens the orders store and the dead-letter queue, where permanent
// failures go at once; Lambda's event source owns receiving and deleting, so
// the events queue itself is never opened. Configuration and clients are
// built once per container, before lambda.Start.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
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
const function = "worker"

// deadlineMargin is kept free before the invocation deadline so that, when a
// batch runs long, the messages not yet processed are reported as
// BatchItemFailures instead of the whole invocation timing out (which would
// return every message of the batch, the applied ones too, to the queue).
const deadlineMargin = 2 * time.Second

// handler is the Lambda handler for an SQS event.
type handler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

func main() {
	h, _, err := newHandler(context.Background(), os.Getenv)
	if err != nil {
		initFailed(err)
	}
	// No SIGTERM hook: logs and metrics are written unbuffered and every
	// write is one conditional request, so there is nothing to flush.
	lambda.Start(h)
}

// newHandler builds the handler from the environment read through getenv. The
// returned cleanup releases the backend (it matters for SQLite in tests).
func newHandler(ctx context.Context, getenv func(string) string) (handler, func() error, error) {
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
	be, err := backend.Open(ctx, cfg, backend.Parts{Store: true, DLQ: true}, log)
	if err != nil {
		return nil, nil, err
	}
	rec := metrics.New(os.Stdout)
	clock := domain.SystemClock{}
	deps := workers.Deps{Store: be.Store, Clock: clock, Logger: log, Metrics: rec, CleanupAfter: cfg.CleanupAfter()}
	disp, err := workers.NewDispatcher(workers.Config{
		Handlers: workers.StandardHandlers(deps), DeadLetter: be.DLQ,
		Logger: log, Metrics: rec, Clock: clock, RetryBudget: retryBudget(cfg.VisibilityTimeout),
	})
	if err != nil {
		_ = be.Close()
		return nil, nil, err
	}
	log.Info("ready", zap.String("backend", cfg.Backend), zap.Duration("initSeconds", time.Since(start)))
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		if deadline, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-deadlineMargin))
			defer cancel()
		}
		return disp.HandleSQS(ctx, ev)
	}, be.Close, nil
}

// retryBudget is serve's rule: in-process retries of one message stay well
// inside the visibility timeout (ORDERFLOW_VISIBILITY_TIMEOUT, default 30 s,
// so 5 s on Lambda, against a 30 s function timeout and a 180 s queue
// visibility). The invocation deadline bounds a whole batch on top of it.
func retryBudget(visibility time.Duration) time.Duration {
	return min(5*time.Second, visibility/3)
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
