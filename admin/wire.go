package admin

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/infra/stripeapi"
)

// NewFromBackend builds the handler `orderflow serve` and the AdminFunction
// run: the store and both queues of be (opened with backend.All), a Stripe
// client on STRIPE_API_BASE for replay, the tokens of ORDERFLOW_ADMIN_TOKENS
// and ADMIN_TOKENS_SECRET_ARN, ORDERFLOW_SESSION_KEY and MAX_REPLAYS. base
// carries what the caller owns: Logger, Metrics, Clock, Refunder, Access.
func NewFromBackend(ctx context.Context, cfg config.Config, be *backend.Backend, base Config) (*Handler, error) {
	tcfg := secrets.AdminTokensConfig{
		Env: cfg.AdminTokens, SecretARN: cfg.AdminTokensSecretARN, TTL: cfg.SecretsTTL,
		Clock: base.Clock, Logger: base.Logger,
	}
	if cfg.AdminTokensSecretARN != "" {
		awsCfg := be.AWS
		if awsCfg.Region == "" && awsCfg.Credentials == nil {
			var err error
			if awsCfg, err = backend.LoadAWS(ctx); err != nil {
				return nil, err
			}
		}
		tcfg.Client = secretsmanager.NewFromConfig(awsCfg)
	}
	tokens, err := secrets.NewAdminTokens(tcfg)
	if err != nil {
		return nil, err
	}
	sc, err := stripeapi.New(stripeapi.Config{BaseURL: cfg.StripeAPIBase, Keys: be.Secrets, Clock: base.Clock})
	if err != nil {
		return nil, fmt.Errorf("admin: stripe client: %w", err)
	}
	base.Store, base.Events, base.DLQ, base.Stripe, base.Tokens = be.Store, be.Events, be.DLQ, sc, tokens
	if cfg.SessionKey != "" {
		base.SessionKey = []byte(cfg.SessionKey)
	}
	base.MaxReplays = cfg.MaxReplays
	return New(base)
}
