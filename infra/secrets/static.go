package secrets

import (
	"context"
	"errors"
	"strings"
)

// Static serves secrets fixed at start-up (from STRIPE_SECRET_KEY and
// STRIPE_WEBHOOK_SECRET), for local runs and tests.
type Static struct {
	secretKey      string
	webhookSecrets []string
}

// NewStatic takes the API key and a comma-separated list of signing secrets.
func NewStatic(secretKey, webhookSecrets string) *Static {
	return &Static{secretKey: strings.TrimSpace(secretKey), webhookSecrets: splitList(webhookSecrets)}
}

// splitList reads a comma-separated list of secrets, dropping blanks, as both
// STRIPE_WEBHOOK_SECRET and a plain-string Secrets Manager value are written.
func splitList(s string) []string {
	var out []string
	for _, w := range strings.Split(s, ",") {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// WebhookSecrets returns every valid signing secret.
func (s *Static) WebhookSecrets(context.Context) ([]string, error) {
	if len(s.webhookSecrets) == 0 {
		return nil, errors.New("no webhook signing secret configured (STRIPE_WEBHOOK_SECRET)")
	}
	return s.webhookSecrets, nil
}

// RefreshWebhookSecrets has nothing to refetch for fixed secrets.
func (s *Static) RefreshWebhookSecrets(ctx context.Context) ([]string, error) {
	return s.WebhookSecrets(ctx)
}

// SecretKey returns the Stripe API secret key.
func (s *Static) SecretKey(context.Context) (string, error) {
	if s.secretKey == "" {
		return "", errors.New("no Stripe secret key configured (STRIPE_SECRET_KEY)")
	}
	return s.secretKey, nil
}
