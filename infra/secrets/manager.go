package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
)

// Cache bounds (SPEC §4, §8).
const (
	// DefaultTTL is how long a fetched secret is served from memory.
	DefaultTTL = 5 * time.Minute
	// MaxTTL is the longest any process may serve a secret without asking
	// Secrets Manager again, so a revoked secret dies everywhere within it.
	MaxTTL = 15 * time.Minute
	// DefaultRefreshInterval spaces out the refetches that failed signature
	// checks trigger, so a flood of forged webhooks cannot turn into a flood
	// of GetSecretValue calls.
	DefaultRefreshInterval = 30 * time.Second
)

// fetchTimeout bounds one GetSecretValue shared by a burst of callers; it is
// detached from the first caller's context so that caller giving up does not
// fail everyone waiting on the same fetch.
const fetchTimeout = 15 * time.Second

// Expected shapes, quoted in errors so an operator can fix a bad value.
const (
	keyShapes     = `{"secretKey":"sk_…"} or a plain sk_… string`
	webhookShapes = `{"webhookSecret":"whsec_…"}, {"webhookSecrets":["whsec_new","whsec_old"]} or a plain whsec_… string`
)

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// SecretKeyARN names the secret holding the Stripe API key
	// (STRIPE_SECRET_ARN). Empty if this process never calls the API.
	SecretKeyARN string
	// WebhookSecretARN names the secret holding the signing secrets
	// (STRIPE_WEBHOOK_SECRET_ARN). Empty if this process verifies nothing.
	WebhookSecretARN string
	// TTL is how long a fetched value is served; 0 means DefaultTTL. Above
	// MaxTTL is rejected rather than clamped, so a misconfiguration shows at
	// start-up instead of silently behaving differently from what was asked.
	TTL time.Duration
	// RefreshInterval is the least time between two RefreshWebhookSecrets
	// refetches; 0 means DefaultRefreshInterval.
	RefreshInterval time.Duration
	// Clock gives the time the cache ages by; nil means the wall clock.
	Clock domain.Clock
	// Logger receives fetch and refresh notes, never values; nil discards.
	Logger *zap.Logger
}

// Validate reports every problem with the config at once.
func (c ManagerConfig) Validate() error {
	var problems []string
	if c.SecretKeyARN == "" && c.WebhookSecretARN == "" {
		problems = append(problems, "set SecretKeyARN, WebhookSecretARN or both")
	}
	if c.TTL < 0 || c.TTL > MaxTTL {
		problems = append(problems, fmt.Sprintf("TTL %s: want at most %s (0 means %s)", c.TTL, MaxTTL, DefaultTTL))
	}
	if c.RefreshInterval < 0 {
		problems = append(problems, fmt.Sprintf("RefreshInterval %s: must not be negative", c.RefreshInterval))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: secrets manager config: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Manager serves the Stripe secrets from AWS Secrets Manager, cached per
// process for the TTL. Concurrent misses share one GetSecretValue.
type Manager struct {
	client  *secretsmanager.Client
	cfg     ManagerConfig
	key     *secretCache[[]string]
	webhook *secretCache[[]string]
}

// NewManager returns a Manager; it makes no request until a secret is asked for.
func NewManager(client *secretsmanager.Client, cfg ManagerConfig) (*Manager, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: secrets manager: nil client", domain.ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	m := &Manager{client: client, cfg: cfg}
	m.key = m.cache(m.keySlot())
	m.webhook = m.cache(m.webhookSlot())
	return m, nil
}

// cache is s's value cached with the Manager's TTL and refresh interval.
func (m *Manager) cache(s slot) *secretCache[[]string] {
	return &secretCache[[]string]{
		kind: s.kind, clock: m.cfg.Clock, ttl: m.cfg.TTL, refreshEvery: m.cfg.RefreshInterval,
		fetch: func(ctx context.Context) ([]string, error) {
			vals, err := m.fetch(ctx, s)
			if err == nil {
				m.cfg.Logger.Debug("fetched secret from Secrets Manager",
					zap.String("secret", secretName(s.arn)), zap.String("kind", s.kind), zap.Int("count", len(vals)))
			}
			return vals, err
		},
	}
}

// slot says where one kind of secret lives and how to read it.
type slot struct {
	kind  string // singleflight key and log name
	arn   string
	env   string
	parse func(name, value string) ([]string, error)
}

func (m *Manager) keySlot() slot {
	return slot{kind: "secret key", arn: m.cfg.SecretKeyARN, env: "STRIPE_SECRET_ARN", parse: parseSecretKey}
}

func (m *Manager) webhookSlot() slot {
	return slot{kind: "webhook secrets", arn: m.cfg.WebhookSecretARN, env: "STRIPE_WEBHOOK_SECRET_ARN", parse: parseWebhookSecrets}
}

// WebhookSecrets returns every valid signing secret, newest first.
func (m *Manager) WebhookSecrets(ctx context.Context) ([]string, error) {
	return m.get(ctx, m.webhookSlot(), m.webhook, false)
}

// RefreshWebhookSecrets refetches the signing secrets now, for a signature
// that failed against the cached ones: a rotation then takes effect at once
// instead of after the TTL. Within RefreshInterval of the previous refetch it
// answers from the cache (after that refetch finishes) without asking AWS.
func (m *Manager) RefreshWebhookSecrets(ctx context.Context) ([]string, error) {
	s := m.webhookSlot()
	if s.arn == "" {
		return m.get(ctx, s, m.webhook, false)
	}
	vals, refetched, err := m.webhook.refresh(ctx)
	if err == nil && refetched {
		m.cfg.Logger.Info("refetched webhook signing secrets after a failed verification",
			zap.String("secret", secretName(s.arn)), zap.Int("count", len(vals)))
	}
	return slices.Clone(vals), err
}

// SecretKey returns the Stripe API secret key.
func (m *Manager) SecretKey(ctx context.Context) (string, error) {
	vals, err := m.get(ctx, m.keySlot(), m.key, false)
	if err != nil {
		return "", err
	}
	return vals[0], nil
}

// get serves s from its cache (secretCache.get), or fails when s has no
// ARN configured.
func (m *Manager) get(ctx context.Context, s slot, c *secretCache[[]string], force bool) ([]string, error) {
	if s.arn == "" {
		return nil, fmt.Errorf("secrets: %s: no secret ARN configured (%s)", s.kind, s.env)
	}
	vals, err := c.get(ctx, force)
	return slices.Clone(vals), err
}

func (m *Manager) fetch(ctx context.Context, s slot) ([]string, error) {
	name := secretName(s.arn)
	out, err := m.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.arn)})
	if err != nil {
		// The SDK's error names the operation, status and request id; a
		// failed call carries no secret value.
		return nil, fmt.Errorf("secrets: get %s from secret %q: %w", s.kind, name, err)
	}
	value := aws.ToString(out.SecretString)
	if out.SecretString == nil {
		value = string(out.SecretBinary)
	}
	return s.parse(name, value)
}

// parseSecretKey reads {"secretKey":"sk_…"} or a plain key.
func parseSecretKey(name, value string) ([]string, error) {
	v := strings.TrimSpace(value)
	if strings.HasPrefix(v, "{") {
		var doc struct {
			SecretKey *string `json:"secretKey"`
		}
		if err := decodeJSON(v, &doc); err != nil {
			return nil, shapeError(name, "secret key", "is not valid JSON", keyShapes)
		}
		if doc.SecretKey == nil {
			return nil, shapeError(name, "secret key", `has no "secretKey" field`, keyShapes)
		}
		v = strings.TrimSpace(*doc.SecretKey)
	}
	if !isSecretKey(v) {
		return nil, shapeError(name, "secret key", "does not hold a Stripe secret key (sk_… or rk_…)", keyShapes)
	}
	return []string{v}, nil
}

// parseWebhookSecrets reads {"webhookSecret":…}, {"webhookSecrets":[…]}
// (both may be present during a rotation) or a plain, comma-separated value.
func parseWebhookSecrets(name, value string) ([]string, error) {
	v := strings.TrimSpace(value)
	var vals []string
	if strings.HasPrefix(v, "{") {
		var doc struct {
			WebhookSecret  *string  `json:"webhookSecret"`
			WebhookSecrets []string `json:"webhookSecrets"`
		}
		if err := decodeJSON(v, &doc); err != nil {
			return nil, shapeError(name, "webhook secrets", "is not valid JSON", webhookShapes)
		}
		if doc.WebhookSecret == nil && doc.WebhookSecrets == nil {
			return nil, shapeError(name, "webhook secrets", `has no "webhookSecret" or "webhookSecrets" field`, webhookShapes)
		}
		vals = doc.WebhookSecrets
		if doc.WebhookSecret != nil {
			vals = append(vals, *doc.WebhookSecret)
		}
	} else {
		vals = splitList(v)
	}
	var out []string
	for _, w := range vals {
		w = strings.TrimSpace(w)
		if w == "" || slices.Contains(out, w) {
			continue
		}
		if !strings.HasPrefix(w, "whsec_") {
			return nil, shapeError(name, "webhook secrets", "holds a value that is not a signing secret (whsec_…)", webhookShapes)
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, shapeError(name, "webhook secrets", "holds no signing secret", webhookShapes)
	}
	return out, nil
}

// decodeJSON unmarshals into doc. Callers drop the error's text: a syntax or
// type error from encoding/json can quote part of the secret value.
func decodeJSON(v string, doc any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	if err := dec.Decode(doc); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

func shapeError(name, kind, problem, shapes string) error {
	return domain.Permanentf("%w: secrets: secret %q (%s) %s; want %s", domain.ErrInvalid, name, kind, problem, shapes)
}

func isSecretKey(v string) bool {
	return len(v) > 3 && (strings.HasPrefix(v, "sk_") || strings.HasPrefix(v, "rk_")) && !strings.ContainsAny(v, " \t\r\n,")
}

// secretName is the resource part of a Secrets Manager ARN (the name plus the
// random suffix AWS appends), or the id itself when it is a plain name; it
// identifies the secret in logs and errors without revealing anything.
func secretName(arn string) string {
	if i := strings.Index(arn, ":secret:"); i >= 0 {
		return arn[i+len(":secret:"):]
	}
	return arn
}
