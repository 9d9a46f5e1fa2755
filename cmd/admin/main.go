// Command admin is the AdminFunction Lambda: API Gateway HTTP API (payload
// v2) requests for /admin/{proxy+}, /console/{proxy+} and /v1/access are
// adapted to the same admin.Handler that `orderflow serve` mounts (SPEC §12).
//
// It opens the store, both queues, the Stripe key (for replay) and the admin
// tokens secret. Configuration, clients and the secrets caches are built once
// per container, before lambda.Start, and reused by every invocation.
package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/admin"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/lambdaenv"
)

// function names this Lambda in its log lines.
const function = "admin"

// warmTimeout bounds the tokens fetch at init; a slow fetch is retried on
// the first request.
const warmTimeout = 3 * time.Second

// handler is the Lambda handler: the API Gateway adapter of admin.Handler.
type handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

func main() { lambdaenv.Start(function, newHandler) }

// newHandler builds the handler from the environment read through getenv.
// The returned cleanup releases the backend (it matters for SQLite in tests).
func newHandler(ctx context.Context, getenv func(string) string) (handler, func() error, error) {
	env, err := lambdaenv.Open(ctx, function, getenv, backend.All, requireAdmin)
	if err != nil {
		return nil, nil, err
	}
	h, err := admin.NewFromBackend(ctx, env.Config, env.Backend, admin.Config{
		Logger: env.Log, Metrics: env.Metrics, Clock: domain.SystemClock{},
	})
	if err != nil {
		_ = env.Close()
		return nil, nil, err
	}
	warmCtx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	if err := h.Warm(warmCtx); err != nil {
		env.Log.Warn("could not fetch the admin tokens at init; will retry on the first request", zap.Error(err))
	}
	env.Ready()
	return h.HandleAPIGateway, env.Close, nil
}

// requireAdmin reports, in one error, what the AdminFunction needs beyond
// Load's checks: a source of tokens (without one every route answers 404)
// and, on AWS, the table and both queues.
func requireAdmin(cfg config.Config) error {
	var problems []string
	if cfg.AdminTokensSecretARN == "" && cfg.AdminTokens == "" {
		problems = append(problems, "ADMIN_TOKENS_SECRET_ARN is not set (or ORDERFLOW_ADMIN_TOKENS for a local run)")
	}
	if cfg.Backend == config.BackendAWS {
		if err := cfg.RequireAWS(true, true, true); err != nil {
			problems = append(problems, strings.TrimPrefix(err.Error(), "invalid configuration: "))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("invalid configuration: " + strings.Join(problems, "; "))
}
