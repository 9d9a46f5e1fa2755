// Command ingress is the IngressFunction Lambda: API Gateway HTTP API
// (payload v2) requests for POST /<stage>/webhooks/stripe are adapted to the
// same ingress.Handler that `orderflow serve` runs, which verifies the Stripe
// signature and enqueues the event on the FIFO events queue.
//
// It opens only the events queue and the signing secrets. Configuration,
// clients and the secrets cache are built once per container, before
// lambda.Start, and reused by every invocation.
package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/lambdaenv"
	"github.com/orderflow/orderflow/ingress"
)

// function names this Lambda in its log lines.
const function = "ingress"

// warmTimeout bounds the secrets fetch at init; the Lambda init phase is
// limited to 10 s and a slow fetch is simply retried on the first request.
const warmTimeout = 3 * time.Second

// handler is the Lambda handler: the API Gateway adapter of ingress.Handler.
type handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// No SIGTERM hook: logs and metrics are written unbuffered and the SQS and
// Secrets Manager clients hold nothing that must be flushed on shutdown.
func main() { lambdaenv.Start(function, newHandler) }

// newHandler builds the handler from the environment read through getenv. The
// returned cleanup releases the backend (it matters for SQLite in tests).
func newHandler(ctx context.Context, getenv func(string) string) (handler, func() error, error) {
	env, err := lambdaenv.Open(ctx, function, getenv, backend.Parts{Events: true}, requireIngress)
	if err != nil {
		return nil, nil, err
	}
	be := env.Backend
	h, err := ingress.NewHandler(ingress.Config{
		Queue: be.Events, Secrets: be.Secrets, Logger: env.Log,
		Metrics: env.Metrics, Clock: domain.SystemClock{}, Mode: env.Config.StripeMode,
	})
	if err != nil {
		_ = env.Close()
		return nil, nil, err
	}
	// Fetch the signing secrets once now, in the init phase, which Lambda runs
	// with a boosted CPU and, with provisioned concurrency or proactive
	// initialization, ahead of traffic, rather than inside a webhook's request.
	// A failure is not fatal: the first request fetches again (503 if it still
	// cannot, and Stripe retries).
	warmCtx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	if _, err := be.Secrets.WebhookSecrets(warmCtx); err != nil {
		env.Log.Warn("could not fetch the webhook signing secrets at init; will retry on the first request", zap.Error(err))
	}
	env.Ready()
	return h.HandleAPIGateway, env.Close, nil
}

// requireIngress reports, in one error, what the ingress needs beyond Load's
// checks: a signing secret (without one every webhook would be rejected) and,
// on AWS, the events queue URL.
func requireIngress(cfg config.Config) error {
	var problems []string
	if cfg.StripeWebhookSecretARN == "" && cfg.StripeWebhookSecret == "" {
		problems = append(problems, "STRIPE_WEBHOOK_SECRET_ARN is not set (or STRIPE_WEBHOOK_SECRET for a local run)")
	}
	if cfg.Backend == config.BackendAWS {
		if err := cfg.RequireAWS(false, true, false); err != nil {
			problems = append(problems, strings.TrimPrefix(err.Error(), "invalid configuration: "))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("invalid configuration: " + strings.Join(problems, "; "))
}
