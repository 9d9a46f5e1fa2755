// Command worker is the WorkerFunction Lambda: batches from the SQS FIFO
// events queue (event source with ReportBatchItemFailures) go through
// Dispatcher.HandleSQS, the same dispatcher and typed handlers that
// `orderflow serve` polls with.
//
// It opens the orders store, the dead-letter queue, where permanent failures
// go at once, and the events queue for sending only: a message that cannot
// be applied yet is moved behind the later messages of its group in the
// batch (EVENTS_QUEUE_URL). Lambda's event source owns receiving and
// deleting. Configuration and clients are built once per container, before
// lambda.Start.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/lambdaenv"
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

// No SIGTERM hook: logs and metrics are written unbuffered and every write is
// one conditional request, so there is nothing to flush.
func main() { lambdaenv.Start(function, newHandler) }

// newHandler builds the handler from the environment read through getenv. The
// returned cleanup releases the backend (it matters for SQLite in tests).
func newHandler(ctx context.Context, getenv func(string) string) (handler, func() error, error) {
	env, err := lambdaenv.Open(ctx, function, getenv, backend.Parts{Store: true, Events: true, DLQ: true}, nil)
	if err != nil {
		return nil, nil, err
	}
	cfg, clock := env.Config, domain.SystemClock{}
	deps := workers.Deps{Store: env.Backend.Store, Clock: clock, Logger: env.Log, Metrics: env.Metrics, CleanupAfter: cfg.CleanupAfter()}
	// The retry budget and batch time are serve's rules
	// (ORDERFLOW_VISIBILITY_TIMEOUT, default 30 s, so 5 s and 15 s on Lambda,
	// against a 30 s function timeout and a 180 s queue visibility); the
	// invocation deadline less deadlineMargin bounds a whole batch on top, and
	// the batch's groups run in parallel (ORDERFLOW_WORKER_CONCURRENCY).
	disp, err := workers.NewDispatcher(workers.Config{
		Handlers: workers.StandardHandlers(deps), DeadLetter: env.Backend.DLQ, Events: env.Backend.Events,
		Logger: env.Log, Metrics: env.Metrics, Clock: clock, RetryBudget: workers.RetryBudget(cfg.VisibilityTimeout),
		BatchTime: workers.BatchTime(cfg.VisibilityTimeout), Concurrency: cfg.WorkerConcurrency,
	})
	if err != nil {
		_ = env.Close()
		return nil, nil, err
	}
	env.Ready()
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		ctx, cancel := lambdaenv.WithMargin(ctx, deadlineMargin)
		defer cancel()
		return disp.HandleSQS(ctx, ev)
	}, env.Close, nil
}
