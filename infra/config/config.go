// Package config loads orderflow's settings from the environment (SPEC §9):
// one struct with defaults, and a Validate that reports every problem at once
// so an operator fixes a bad deployment in one go.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Backends.
const (
	BackendSQLite = "sqlite"
	BackendAWS    = "aws"
)

// maxSecretsTTL is the longest a process may cache a secret (SPEC §8), so a
// rotation always reaches every container within a quarter of an hour.
const maxSecretsTTL = 15 * time.Minute

// maxWorkerConcurrency is the most groups of a batch a worker handles at
// once (workers.MaxConcurrency); a batch holds at most 10 messages, so more
// than that only matters if batches grow.
const maxWorkerConcurrency = 100

// Config is every tunable of orderflow. Secret values are kept here but never
// printed: String and errors name variables, not values.
type Config struct {
	Backend                     string
	Addr                        string
	DBPath                      string
	VisibilityTimeout           time.Duration
	MaxReceives                 int
	MaxReplays                  int
	WorkerConcurrency           int
	CleanupInterval             time.Duration
	CleanupFailedPaymentMinutes int
	LogLevel                    string
	LogFormat                   string
	StripeAPIBase               string

	StripeSecretKey string
	// StripeMode is "live", "test" or "" (unknown): STRIPE_MODE, else the
	// prefix of STRIPE_SECRET_KEY (SPEC §3 "Live and test mode").
	StripeMode             string
	StripeWebhookSecret    string
	StripeSecretARN        string
	StripeWebhookSecretARN string
	SecretsTTL             time.Duration

	// AdminTokens is ORDERFLOW_ADMIN_TOKENS: "actorId:role:sha256hex" entries,
	// comma separated (SPEC §12). Only hashes: no token is ever configured.
	AdminTokens string
	// AdminTokensSecretARN is ADMIN_TOKENS_SECRET_ARN, the Secrets Manager
	// secret {"adminTokens":[…],"sessionKey":"…"}.
	AdminTokensSecretARN string
	// SessionKey is ORDERFLOW_SESSION_KEY, the console's cookie signing key;
	// empty means the secret's sessionKey, else a random key per process.
	SessionKey string
	// DevAdminToken is ORDERFLOW_DEV_ADMIN_TOKEN=true (`make run` sets it):
	// serve makes a development operator token, keeps it in the data folder
	// and prints it, as it does the webhook secret.
	DevAdminToken bool

	OrdersTable     string
	EventsQueueURL  string
	DLQURL          string
	EventsQueueName string
	DLQName         string

	// DownloadsDisabled is the kill switch of SPEC §13 (DOWNLOADS_DISABLED,
	// template parameter DownloadsDisabled): every access check answers 403
	// downloads_disabled.
	DownloadsDisabled bool
	// StripeWebhookURL is this deployment's webhook URL as registered in
	// Stripe (STRIPE_WEBHOOK_URL, e.g. https://<api>/<stage>/webhooks/stripe):
	// `orderflow doctor` looks for the Stripe webhook endpoint with it.
	StripeWebhookURL string
}

// Defaults returns the configuration used when no variable is set.
func Defaults() Config {
	return Config{
		Backend:                     BackendSQLite,
		Addr:                        "127.0.0.1:8080",
		DBPath:                      filepath.Join(".orderflow", "orderflow.db"),
		VisibilityTimeout:           30 * time.Second,
		MaxReceives:                 5,
		MaxReplays:                  3,
		WorkerConcurrency:           10,
		CleanupInterval:             5 * time.Minute,
		CleanupFailedPaymentMinutes: 60,
		LogLevel:                    "info",
		LogFormat:                   "json",
		StripeAPIBase:               "https://api.stripe.com",
		SecretsTTL:                  5 * time.Minute,
		OrdersTable:                 "Orders-dev",
		EventsQueueName:             "orderflow-events-dev.fifo",
		DLQName:                     "orderflow-events-dlq-dev.fifo",
	}
}

// Load reads the environment through getenv (os.Getenv in main, a map in
// tests) over the defaults and validates the result.
func Load(getenv func(string) string) (Config, error) {
	c := Defaults()
	var problems []string
	str := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q is not a duration (use e.g. 30s, 5m)", name, v))
			return
		}
		*dst = d
	}
	num := func(name string, dst *int) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q is not a whole number", name, v))
			return
		}
		*dst = n
	}
	str("ORDERFLOW_BACKEND", &c.Backend)
	str("ORDERFLOW_ADDR", &c.Addr)
	str("ORDERFLOW_DB", &c.DBPath)
	dur("ORDERFLOW_VISIBILITY_TIMEOUT", &c.VisibilityTimeout)
	num("ORDERFLOW_MAX_RECEIVES", &c.MaxReceives)
	num("MAX_REPLAYS", &c.MaxReplays)
	num("ORDERFLOW_WORKER_CONCURRENCY", &c.WorkerConcurrency)
	dur("ORDERFLOW_CLEANUP_INTERVAL", &c.CleanupInterval)
	num("CLEANUP_FAILED_PAYMENT_MINUTES", &c.CleanupFailedPaymentMinutes)
	str("LOG_LEVEL", &c.LogLevel)
	str("ORDERFLOW_LOG_FORMAT", &c.LogFormat)
	str("STRIPE_API_BASE", &c.StripeAPIBase)
	// Secret values are taken as they are: whitespace may matter to no one,
	// but trimming keeps a pasted trailing newline from breaking verification.
	str("STRIPE_SECRET_KEY", &c.StripeSecretKey)
	str("STRIPE_WEBHOOK_SECRET", &c.StripeWebhookSecret)
	str("STRIPE_MODE", &c.StripeMode)
	if c.StripeMode == "" {
		c.StripeMode = modeOfKey(c.StripeSecretKey)
	}
	str("STRIPE_SECRET_ARN", &c.StripeSecretARN)
	str("STRIPE_WEBHOOK_SECRET_ARN", &c.StripeWebhookSecretARN)
	dur("SECRETS_CACHE_TTL", &c.SecretsTTL)
	str("ORDERFLOW_ADMIN_TOKENS", &c.AdminTokens)
	str("ADMIN_TOKENS_SECRET_ARN", &c.AdminTokensSecretARN)
	str("ORDERFLOW_SESSION_KEY", &c.SessionKey)
	if v := strings.TrimSpace(getenv("ORDERFLOW_DEV_ADMIN_TOKEN")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("ORDERFLOW_DEV_ADMIN_TOKEN=%q: want true or false", v))
		}
		c.DevAdminToken = b
	}
	str("ORDERS_TABLE", &c.OrdersTable)
	str("EVENTS_QUEUE_URL", &c.EventsQueueURL)
	str("DLQ_URL", &c.DLQURL)
	str("EVENTS_QUEUE_NAME", &c.EventsQueueName)
	str("DLQ_NAME", &c.DLQName)
	if v := strings.TrimSpace(getenv("DOWNLOADS_DISABLED")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("DOWNLOADS_DISABLED=%q: want true or false", v))
		}
		c.DownloadsDisabled = b
	}
	str("STRIPE_WEBHOOK_URL", &c.StripeWebhookURL)
	c.Backend = strings.ToLower(c.Backend)

	err := c.Validate()
	if len(problems) > 0 {
		if err != nil {
			problems = append(problems, strings.TrimPrefix(err.Error(), "invalid configuration: "))
		}
		return c, fmt.Errorf("invalid configuration: %s", strings.Join(problems, "; "))
	}
	return c, err
}

// Validate reports every problem with the configuration in one error.
func (c Config) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.Backend != BackendSQLite && c.Backend != BackendAWS {
		add("ORDERFLOW_BACKEND=%q: want sqlite or aws", c.Backend)
	}
	if host, _, err := net.SplitHostPort(c.Addr); err != nil {
		add("ORDERFLOW_ADDR=%q is not host:port", c.Addr)
	} else if host == "" {
		add("ORDERFLOW_ADDR=%q has no host; give 127.0.0.1:PORT to stay on this machine", c.Addr)
	}
	if c.Backend == BackendSQLite && strings.TrimSpace(c.DBPath) == "" {
		add("ORDERFLOW_DB is empty")
	}
	if c.VisibilityTimeout < time.Second || c.VisibilityTimeout > 12*time.Hour {
		add("ORDERFLOW_VISIBILITY_TIMEOUT=%s: want between 1s and 12h (the SQS limits)", c.VisibilityTimeout)
	}
	if c.MaxReceives < 1 || c.MaxReceives > 1000 {
		add("ORDERFLOW_MAX_RECEIVES=%d: want 1 to 1000 (the SQS limits)", c.MaxReceives)
	}
	if c.MaxReplays < 1 {
		// 0 would park every dead-lettered message for good: redrive could
		// never move anything, which is never what an operator means.
		add("MAX_REPLAYS=%d: want at least 1", c.MaxReplays)
	}
	if c.WorkerConcurrency < 1 || c.WorkerConcurrency > maxWorkerConcurrency {
		add("ORDERFLOW_WORKER_CONCURRENCY=%d: want 1 to %d", c.WorkerConcurrency, maxWorkerConcurrency)
	}
	if c.CleanupInterval < time.Second {
		add("ORDERFLOW_CLEANUP_INTERVAL=%s: want at least 1s", c.CleanupInterval)
	}
	if c.CleanupFailedPaymentMinutes < 1 {
		add("CLEANUP_FAILED_PAYMENT_MINUTES=%d: want at least 1", c.CleanupFailedPaymentMinutes)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		add("LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		add("ORDERFLOW_LOG_FORMAT=%q: want json or console", c.LogFormat)
	}
	if u, err := url.Parse(c.StripeAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("STRIPE_API_BASE=%q is not an http(s) URL", c.StripeAPIBase)
	}
	if c.StripeWebhookURL != "" {
		if u, err := url.Parse(c.StripeWebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("STRIPE_WEBHOOK_URL=%q is not an http(s) URL", c.StripeWebhookURL)
		}
	}
	if c.SecretsTTL <= 0 || c.SecretsTTL > maxSecretsTTL {
		add("SECRETS_CACHE_TTL=%s: want more than 0 and at most 15m", c.SecretsTTL)
	}
	if c.StripeSecretKey != "" && !strings.HasPrefix(c.StripeSecretKey, "sk_") && !strings.HasPrefix(c.StripeSecretKey, "rk_") {
		add("STRIPE_SECRET_KEY does not look like a Stripe secret key (sk_… or rk_…)")
	}
	switch c.StripeMode {
	case "live", "test":
		if k := modeOfKey(c.StripeSecretKey); k != "" && k != c.StripeMode {
			add("STRIPE_MODE=%s but STRIPE_SECRET_KEY is a %s-mode key: the two must agree", c.StripeMode, k)
		}
	case "":
	default:
		add("STRIPE_MODE=%q: want live or test (or unset to take it from the secret key)", c.StripeMode)
	}
	for _, s := range strings.Split(c.StripeWebhookSecret, ",") {
		if s = strings.TrimSpace(s); s != "" && !strings.HasPrefix(s, "whsec_") {
			add("STRIPE_WEBHOOK_SECRET holds a value that is not a signing secret (whsec_…)")
			break
		}
	}
	problems = append(problems, adminProblems(c)...)
	if len(problems) == 0 {
		return nil
	}
	return errors.New("invalid configuration: " + strings.Join(problems, "; "))
}

// MinSessionKeyLen is the shortest ORDERFLOW_SESSION_KEY accepted: 32
// characters, as an HMAC-SHA256 key shorter than that is weaker than the hash.
const MinSessionKeyLen = 32

// adminProblems checks the admin settings' shapes (SPEC §12), naming entries
// by position and never showing a value.
func adminProblems(c Config) []string {
	var problems []string
	for i, entry := range strings.Split(c.AdminTokens, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.Split(entry, ":")
		switch {
		case len(parts) != 3 || strings.TrimSpace(parts[0]) == "":
			problems = append(problems, fmt.Sprintf("ORDERFLOW_ADMIN_TOKENS entry %d: want actorId:role:sha256hex (orderflow admin token new prints one)", i+1))
		case parts[1] != "viewer" && parts[1] != "operator" && parts[1] != "service":
			problems = append(problems, fmt.Sprintf("ORDERFLOW_ADMIN_TOKENS entry %d: role %q: want viewer, operator or service", i+1, parts[1]))
		case !isSHA256Hex(parts[2]):
			problems = append(problems, fmt.Sprintf("ORDERFLOW_ADMIN_TOKENS entry %d: the third field is not a SHA-256 in hex (64 characters); configure the token's hash, never the token", i+1))
		}
	}
	if c.SessionKey != "" && len(c.SessionKey) < MinSessionKeyLen {
		problems = append(problems, fmt.Sprintf("ORDERFLOW_SESSION_KEY is too short: want at least %d characters", MinSessionKeyLen))
	}
	return problems
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

// RequireAWS checks the settings the AWS backend needs for the given parts.
func (c Config) RequireAWS(table, events, dlq bool) error {
	var problems []string
	if table && c.OrdersTable == "" {
		problems = append(problems, "ORDERS_TABLE is not set")
	}
	if events && c.EventsQueueURL == "" {
		problems = append(problems, "EVENTS_QUEUE_URL is not set (orderflow aws bootstrap prints it)")
	}
	if dlq && c.DLQURL == "" {
		problems = append(problems, "DLQ_URL is not set (orderflow aws bootstrap prints it)")
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("invalid configuration: " + strings.Join(problems, "; "))
}

// CleanupAfter is CLEANUP_FAILED_PAYMENT_MINUTES as a duration.
func (c Config) CleanupAfter() time.Duration {
	return time.Duration(c.CleanupFailedPaymentMinutes) * time.Minute
}

// modeOfKey is the Stripe mode a secret or restricted key belongs to, "" when
// the key says nothing (no key, or a Secrets Manager ARN read later).
func modeOfKey(key string) string {
	switch {
	case strings.HasPrefix(key, "sk_live_"), strings.HasPrefix(key, "rk_live_"):
		return "live"
	case strings.HasPrefix(key, "sk_test_"), strings.HasPrefix(key, "rk_test_"):
		return "test"
	}
	return ""
}
