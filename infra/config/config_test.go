package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/infra/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.VisibilityTimeout != 30*time.Second || c.MaxReceives != 5 ||
		c.MaxReplays != 3 || c.CleanupInterval != 5*time.Minute || c.CleanupFailedPaymentMinutes != 60 ||
		c.Backend != "sqlite" || c.DBPath != ".orderflow/orderflow.db" || c.LogLevel != "info" {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{
		"ORDERFLOW_VISIBILITY_TIMEOUT": "2s", "ORDERFLOW_MAX_RECEIVES": "3", "MAX_REPLAYS": "1",
		"ORDERFLOW_BACKEND": "AWS", "CLEANUP_FAILED_PAYMENT_MINUTES": "15", "STRIPE_WEBHOOK_SECRET": "whsec_a, whsec_b",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.VisibilityTimeout != 2*time.Second || c.MaxReceives != 3 || c.MaxReplays != 1 || c.Backend != "aws" || c.CleanupAfter() != 15*time.Minute {
		t.Fatalf("got %+v", c)
	}
}

func TestEveryProblemReportedAtOnceWithoutSecrets(t *testing.T) {
	t.Parallel()
	_, err := config.Load(env(map[string]string{
		"ORDERFLOW_VISIBILITY_TIMEOUT": "soon", "ORDERFLOW_MAX_RECEIVES": "many", "ORDERFLOW_BACKEND": "postgres",
		"LOG_LEVEL": "loud", "SECRETS_CACHE_TTL": "1h", "STRIPE_SECRET_KEY": "pk_live_notasecretkey_123",
		"ORDERFLOW_ADDR": "8080", "MAX_REPLAYS": "0",
	}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"ORDERFLOW_VISIBILITY_TIMEOUT", "ORDERFLOW_MAX_RECEIVES", "ORDERFLOW_BACKEND", "LOG_LEVEL", "SECRETS_CACHE_TTL", "STRIPE_SECRET_KEY", "ORDERFLOW_ADDR", "MAX_REPLAYS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "pk_live_notasecretkey_123") {
		t.Fatal("error leaks the secret value")
	}
}

func TestStripeModeFromEnvOrKeyPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ mode, key, want string }{
		{"", "", ""}, {"", "sk_live_abc", "live"}, {"", "rk_test_abc", "test"}, {"test", "sk_test_abc", "test"}, {"live", "", "live"},
	} {
		c, err := config.Load(func(k string) string {
			return map[string]string{"STRIPE_MODE": tc.mode, "STRIPE_SECRET_KEY": tc.key}[k]
		})
		if err != nil || c.StripeMode != tc.want {
			t.Errorf("STRIPE_MODE=%q key=%q: mode %q err %v, want %q", tc.mode, tc.key, c.StripeMode, err, tc.want)
		}
	}
	if _, err := config.Load(func(k string) string {
		return map[string]string{"STRIPE_MODE": "live", "STRIPE_SECRET_KEY": "sk_test_abc"}[k]
	}); err == nil || !strings.Contains(err.Error(), "must agree") {
		t.Errorf("live mode with a test key: %v, want an error", err)
	}
	if _, err := config.Load(func(k string) string { return map[string]string{"STRIPE_MODE": "prod"}[k] }); err == nil || !strings.Contains(err.Error(), "STRIPE_MODE") {
		t.Errorf("STRIPE_MODE=prod: %v, want an error naming it", err)
	}
}

func TestWorkerConcurrency(t *testing.T) {
	t.Parallel()
	if c, err := config.Load(env(nil)); err != nil || c.WorkerConcurrency != 10 {
		t.Fatalf("default = %d, %v; want 10", c.WorkerConcurrency, err)
	}
	if c, err := config.Load(env(map[string]string{"ORDERFLOW_WORKER_CONCURRENCY": "3"})); err != nil || c.WorkerConcurrency != 3 {
		t.Fatalf("override = %d, %v; want 3", c.WorkerConcurrency, err)
	}
	for _, bad := range []string{"0", "-1", "101", "lots"} {
		if _, err := config.Load(env(map[string]string{"ORDERFLOW_WORKER_CONCURRENCY": bad})); err == nil || !strings.Contains(err.Error(), "ORDERFLOW_WORKER_CONCURRENCY") {
			t.Errorf("ORDERFLOW_WORKER_CONCURRENCY=%s: err = %v, want it named", bad, err)
		}
	}
}
