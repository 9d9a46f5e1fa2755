package secrets

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
)

// Admin roles (SPEC §12).
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleService  = "service"
)

const adminTokensShape = `{"adminTokens":[{"actorId":"adm_7","role":"operator","sha256":"<64 hex>"}],"sessionKey":"<optional, 32+ characters>"}`

// AdminToken is one admin API token, known only by its SHA-256.
type AdminToken struct {
	ActorID string `json:"actorId"`
	Role    string `json:"role"`
	// SHA256 is the lowercase hex SHA-256 of the token.
	SHA256 string `json:"sha256"`
}

// AdminTokenSet is what the admin API authenticates against: the tokens and,
// from Secrets Manager, the console's optional session key.
type AdminTokenSet struct {
	Tokens     []AdminToken
	SessionKey string
}

// ParseAdminTokens reads ORDERFLOW_ADMIN_TOKENS: "actorId:role:sha256hex"
// entries, comma separated. Errors name entries by position, never a value.
// One hash twice is refused: a token must mean one actor and role.
func ParseAdminTokens(list string) ([]AdminToken, error) {
	var out []AdminToken
	for i, entry := range splitList(list) {
		parts := strings.Split(entry, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: ORDERFLOW_ADMIN_TOKENS entry %d: want actorId:role:sha256hex", domain.ErrInvalid, i+1)
		}
		t, err := checkAdminToken(AdminToken{ActorID: parts[0], Role: parts[1], SHA256: parts[2]})
		if err != nil {
			return nil, fmt.Errorf("%w: ORDERFLOW_ADMIN_TOKENS entry %d: %s", domain.ErrInvalid, i+1, err)
		}
		out = append(out, t)
	}
	if err := duplicateHash(out, nil); err != nil {
		return nil, fmt.Errorf("%w: ORDERFLOW_ADMIN_TOKENS: %s", domain.ErrInvalid, err)
	}
	return out, nil
}

// duplicateHash reports the first sha256 configured twice, in tokens or
// between tokens and others, naming the actors and never the hash: the first
// match would silently win, so one token could not be told from another.
func duplicateHash(tokens, others []AdminToken) error {
	seen := map[string]AdminToken{}
	for _, t := range others {
		seen[t.SHA256] = t
	}
	for i, t := range tokens {
		if prev, ok := seen[t.SHA256]; ok {
			return fmt.Errorf("actors %s (%s) and %s (%s) are configured with the same sha256, so one token would act as both; give each actor its own token (orderflow admin token new)",
				prev.ActorID, prev.Role, t.ActorID, t.Role)
		}
		seen[t.SHA256] = tokens[i]
	}
	return nil
}

// checkAdminToken validates one token's fields and lowercases its hash.
func checkAdminToken(t AdminToken) (AdminToken, error) {
	t.ActorID, t.Role, t.SHA256 = strings.TrimSpace(t.ActorID), strings.TrimSpace(t.Role), strings.ToLower(strings.TrimSpace(t.SHA256))
	switch {
	case t.ActorID == "" || strings.ContainsAny(t.ActorID, ":, \t\r\n"):
		return t, fmt.Errorf("actorId is empty or holds a separator")
	case t.Role != RoleViewer && t.Role != RoleOperator && t.Role != RoleService:
		return t, fmt.Errorf("role %q: want viewer, operator or service", t.Role)
	case len(t.SHA256) != 64 || strings.Trim(t.SHA256, "0123456789abcdef") != "":
		return t, fmt.Errorf("sha256 is not 64 hex characters (configure the token's hash, never the token)")
	}
	return t, nil
}

// AdminTokensConfig configures AdminTokens.
type AdminTokensConfig struct {
	// Env is ORDERFLOW_ADMIN_TOKENS.
	Env string
	// SecretARN is ADMIN_TOKENS_SECRET_ARN; Client must be set with it.
	SecretARN string
	Client    *secretsmanager.Client
	// TTL and RefreshInterval as for the Stripe secrets (0: the defaults).
	TTL             time.Duration
	RefreshInterval time.Duration
	Clock           domain.Clock
	Logger          *zap.Logger
}

// AdminTokens serves the admin tokens from ORDERFLOW_ADMIN_TOKENS and, when an
// ARN is set, from Secrets Manager with the webhook secrets' rules: cached
// for a TTL, refetched at once (at most every RefreshInterval) when a
// presented token matches none, so a token added by a rotation works at once.
// Tokens from both places are valid together.
type AdminTokens struct {
	cfg   AdminTokensConfig
	env   []AdminToken
	cache *secretCache[AdminTokenSet]
}

// NewAdminTokens validates cfg and parses the env tokens.
func NewAdminTokens(cfg AdminTokensConfig) (*AdminTokens, error) {
	env, err := ParseAdminTokens(cfg.Env)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.SecretARN != "" && cfg.Client == nil:
		return nil, fmt.Errorf("%w: admin tokens: ADMIN_TOKENS_SECRET_ARN is set but there is no Secrets Manager client", domain.ErrInvalid)
	case cfg.TTL < 0 || cfg.TTL > MaxTTL:
		return nil, fmt.Errorf("%w: admin tokens: TTL %s: want at most %s", domain.ErrInvalid, cfg.TTL, MaxTTL)
	case cfg.RefreshInterval < 0:
		return nil, fmt.Errorf("%w: admin tokens: RefreshInterval %s is negative", domain.ErrInvalid, cfg.RefreshInterval)
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
	a := &AdminTokens{cfg: cfg, env: env}
	a.cache = &secretCache[AdminTokenSet]{kind: "admin tokens", clock: cfg.Clock, ttl: cfg.TTL,
		refreshEvery: cfg.RefreshInterval, fetch: a.fetch}
	return a, nil
}

// Configured reports whether any token can exist: env tokens or a secret.
func (a *AdminTokens) Configured() bool { return len(a.env) > 0 || a.cfg.SecretARN != "" }

// AdminTokens returns the tokens, from the cache while it is fresh.
func (a *AdminTokens) AdminTokens(ctx context.Context) (AdminTokenSet, error) {
	return a.get(ctx, false)
}

// RefreshAdminTokens refetches the secret, at most once per RefreshInterval
// (callers within it wait for the refetch under way and share its result).
func (a *AdminTokens) RefreshAdminTokens(ctx context.Context) (AdminTokenSet, error) {
	if a.cfg.SecretARN == "" {
		return a.get(ctx, false)
	}
	set, refetched, err := a.cache.refresh(ctx)
	if err != nil {
		return AdminTokenSet{}, err
	}
	if refetched {
		a.cfg.Logger.Info("refetched admin tokens after an unknown token",
			zap.String("secret", secretName(a.cfg.SecretARN)), zap.Int("count", len(set.Tokens)))
	}
	return a.withEnv(set), nil
}

func (a *AdminTokens) get(ctx context.Context, force bool) (AdminTokenSet, error) {
	if a.cfg.SecretARN == "" {
		return AdminTokenSet{Tokens: slices.Clone(a.env)}, nil
	}
	set, err := a.cache.get(ctx, force)
	if err != nil {
		return AdminTokenSet{}, err
	}
	return a.withEnv(set), nil
}

func (a *AdminTokens) withEnv(set AdminTokenSet) AdminTokenSet {
	set.Tokens = append(slices.Clone(set.Tokens), a.env...)
	return set
}

func (a *AdminTokens) fetch(ctx context.Context) (AdminTokenSet, error) {
	name := secretName(a.cfg.SecretARN)
	out, err := a.cfg.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(a.cfg.SecretARN)})
	if err != nil {
		return AdminTokenSet{}, fmt.Errorf("secrets: get admin tokens from secret %q: %w", name, err)
	}
	value := aws.ToString(out.SecretString)
	if out.SecretString == nil {
		value = string(out.SecretBinary)
	}
	set, err := ParseAdminTokenSecret(name, value)
	if err != nil {
		return AdminTokenSet{}, err
	}
	if err := duplicateHash(set.Tokens, a.env); err != nil {
		return AdminTokenSet{}, domain.Permanentf("%w: secrets: admin tokens of ORDERFLOW_ADMIN_TOKENS and secret %q: %s", domain.ErrInvalid, name, err)
	}
	return set, nil
}

// ParseAdminTokenSecret reads the admin-tokens secret's JSON; name is only
// for errors, which never show a value.
func ParseAdminTokenSecret(name, value string) (AdminTokenSet, error) {
	var doc struct {
		AdminTokens *[]AdminToken `json:"adminTokens"`
		SessionKey  string        `json:"sessionKey"`
	}
	if err := decodeJSON(strings.TrimSpace(value), &doc); err != nil {
		return AdminTokenSet{}, shapeError(name, "admin tokens", "is not valid JSON", adminTokensShape)
	}
	if doc.AdminTokens == nil {
		return AdminTokenSet{}, shapeError(name, "admin tokens", `has no "adminTokens" field`, adminTokensShape)
	}
	set := AdminTokenSet{SessionKey: doc.SessionKey}
	for i, t := range *doc.AdminTokens {
		t, err := checkAdminToken(t)
		if err != nil {
			return AdminTokenSet{}, shapeError(name, "admin tokens", fmt.Sprintf("entry %d: %s", i+1, err), adminTokensShape)
		}
		set.Tokens = append(set.Tokens, t)
	}
	if err := duplicateHash(set.Tokens, nil); err != nil {
		return AdminTokenSet{}, shapeError(name, "admin tokens", "has a duplicate: "+err.Error(), adminTokensShape)
	}
	if set.SessionKey != "" && len(set.SessionKey) < 32 {
		return AdminTokenSet{}, shapeError(name, "admin tokens", "has a sessionKey shorter than 32 characters", adminTokensShape)
	}
	return set, nil
}
