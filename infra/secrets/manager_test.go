package secrets_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/secrets"
)

// Fake secret values, recognisable if they ever leak into an error.
const (
	keyValue = "sk_test_LEAKCANARYkey000000000000"
	whOld    = "whsec_LEAKCANARYold00000000000000"
	whNew    = "whsec_LEAKCANARYnew00000000000000"
)

// bundle is what a secrets test works with: a Secrets Manager client for
// setting values (straight to kumo) and one for the Manager, behind a proxy
// that counts GetSecretValue calls and can hold them back.
type bundle struct {
	admin *secretsmanager.Client
	app   *secretsmanager.Client
	clock *domain.ManualClock
	gets  atomic.Int64
	// While holding is set, every GetSecretValue waits for gate to close
	// before kumo sees it.
	holding atomic.Bool
	gate    chan struct{}
}

func setup(t *testing.T) *bundle {
	t.Helper()
	kumoURL := emulator.Kumo(t)
	target, err := url.Parse(kumoURL)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{clock: domain.NewManualClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)), gate: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(target)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetSecretValue") {
			b.gets.Add(1)
			if b.holding.Load() {
				<-b.gate
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	b.admin = secretsmanager.NewFromConfig(emulator.AWSConfig(kumoURL))
	b.app = secretsmanager.NewFromConfig(emulator.AWSConfig(counting.URL))
	return b
}

// secret creates a secret holding value and returns its ARN. The name is
// made unique per test because kumo's state is shared by the whole process.
func (b *bundle) secret(t *testing.T, name, value string) string {
	t.Helper()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name = strings.NewReplacer("/", "-", "#", "-").Replace(t.Name()) + "-" + name + "-" + hex.EncodeToString(suffix[:])
	out, err := b.admin.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	return aws.ToString(out.ARN)
}

func (b *bundle) put(t *testing.T, arn, value string) {
	t.Helper()
	if _, err := b.admin.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String(value),
	}); err != nil {
		t.Fatalf("put secret value: %v", err)
	}
}

func (b *bundle) manager(t *testing.T, cfg secrets.ManagerConfig) *secrets.Manager {
	t.Helper()
	cfg.Clock = b.clock
	m, err := secrets.NewManager(b.app, cfg)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestManagerShapes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name    string
		value   string
		key     string
		webhook []string
		wantErr string // for both getters; empty means the getter under test succeeds
	}{
		{name: "key-json", value: `{"secretKey":"` + keyValue + `"}`, key: keyValue},
		{name: "key-plain", value: keyValue, key: keyValue},
		{name: "key-plain-padded", value: "  " + keyValue + "\n", key: keyValue},
		{name: "webhook-one", value: `{"webhookSecret":"` + whOld + `"}`, webhook: []string{whOld}},
		{name: "webhook-list", value: `{"webhookSecrets":["` + whNew + `","` + whOld + `"]}`, webhook: []string{whNew, whOld}},
		{name: "webhook-both", value: `{"webhookSecrets":["` + whNew + `"],"webhookSecret":"` + whOld + `"}`, webhook: []string{whNew, whOld}},
		{name: "webhook-plain", value: whOld, webhook: []string{whOld}},
		{name: "webhook-plain-list", value: whNew + ", " + whOld, webhook: []string{whNew, whOld}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			arn := b.secret(t, "shape-"+tt.name, tt.value)
			if tt.key != "" {
				got, err := b.manager(t, secrets.ManagerConfig{SecretKeyARN: arn}).SecretKey(ctx(t))
				if err != nil {
					t.Fatalf("SecretKey: %v", err)
				}
				if got != tt.key {
					t.Fatal("SecretKey returned a different value than the secret holds")
				}
			}
			if tt.webhook != nil {
				got, err := b.manager(t, secrets.ManagerConfig{WebhookSecretARN: arn}).WebhookSecrets(ctx(t))
				if err != nil {
					t.Fatalf("WebhookSecrets: %v", err)
				}
				if !slices.Equal(got, tt.webhook) {
					t.Fatalf("WebhookSecrets returned %d values, want %d in order newest first", len(got), len(tt.webhook))
				}
			}
		})
	}
}

func TestManagerMalformed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name    string
		value   string
		webhook bool   // ask for the webhook secrets, else the key
		want    string // in the error
	}{
		{name: "bad-json-key", value: `{"secretKey":"` + keyValue + `"`, want: `{"secretKey":"sk_…"}`},
		{name: "bad-json-webhook", value: `{"webhookSecret": ` + whOld + `}`, webhook: true, want: `{"webhookSecret":"whsec_…"}`},
		{name: "wrong-type", value: `{"webhookSecrets":"` + whOld + `"}`, webhook: true, want: "not valid JSON"},
		{name: "missing-key-field", value: `{"apiKey":"` + keyValue + `"}`, want: `no "secretKey" field`},
		{name: "missing-webhook-field", value: `{"secret":"` + whOld + `"}`, webhook: true, want: `no "webhookSecret" or "webhookSecrets" field`},
		{name: "swapped-secrets", value: `{"webhookSecret":"` + keyValue + `"}`, webhook: true, want: "not a signing secret"},
		{name: "key-in-webhook-plain", value: keyValue, webhook: true, want: "not a signing secret"},
		{name: "webhook-as-key", value: whOld, want: "does not hold a Stripe secret key"},
		{name: "empty-list", value: `{"webhookSecrets":[]}`, webhook: true, want: "holds no signing secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := "malformed-" + tt.name
			arn := b.secret(t, name, tt.value)
			var err error
			if tt.webhook {
				_, err = b.manager(t, secrets.ManagerConfig{WebhookSecretARN: arn}).WebhookSecrets(ctx(t))
			} else {
				_, err = b.manager(t, secrets.ManagerConfig{SecretKeyARN: arn}).SecretKey(ctx(t))
			}
			if err == nil {
				t.Fatal("malformed secret accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "LEAKCANARY") {
				t.Fatal("error message contains the secret value") // the message itself is not printed, on purpose
			}
			if !strings.Contains(msg, name) || !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q: want the secret name %q and %q", msg, name, tt.want)
			}
			if !errors.Is(err, domain.ErrInvalid) || !domain.IsPermanent(err) {
				t.Fatalf("error %q: want a permanent domain.ErrInvalid", msg)
			}
		})
	}
}

func TestManagerMissingSecret(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, secrets.ManagerConfig{SecretKeyARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:nope-AbCdEf"})
	_, err := m.SecretKey(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "nope-AbCdEf") {
		t.Fatalf("SecretKey of a missing secret: %v, want an error naming it", err)
	}
	if _, err := m.WebhookSecrets(ctx(t)); err == nil || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET_ARN") {
		t.Fatalf("WebhookSecrets with no ARN: %v, want an error naming STRIPE_WEBHOOK_SECRET_ARN", err)
	}
}

func TestManagerTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration // effective TTL
	}{
		{name: "default", ttl: 0, want: secrets.DefaultTTL},
		{name: "short", ttl: time.Minute, want: time.Minute},
		{name: "cap", ttl: 15 * time.Minute, want: 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			keyARN := b.secret(t, "key", `{"secretKey":"sk_test_one"}`)
			whARN := b.secret(t, "wh", `{"webhookSecret":"whsec_one"}`)
			m := b.manager(t, secrets.ManagerConfig{SecretKeyARN: keyARN, WebhookSecretARN: whARN, TTL: tt.ttl})

			key, err := m.SecretKey(ctx(t))
			if err != nil || key != "sk_test_one" {
				t.Fatalf("SecretKey: err %v or not the stored value", err)
			}
			wh, err := m.WebhookSecrets(ctx(t))
			if err != nil || !slices.Equal(wh, []string{"whsec_one"}) {
				t.Fatalf("WebhookSecrets: err %v or not the stored value", err)
			}
			b.put(t, keyARN, `{"secretKey":"sk_test_two"}`)
			b.put(t, whARN, `{"webhookSecret":"whsec_two"}`)

			b.clock.Advance(tt.want - time.Second)
			key, _ = m.SecretKey(ctx(t))
			wh, _ = m.WebhookSecrets(ctx(t))
			if key != "sk_test_one" || !slices.Equal(wh, []string{"whsec_one"}) {
				t.Fatal("before the TTL: the new values were served, want the cached ones")
			}
			if n := b.gets.Load(); n != 2 {
				t.Fatalf("GetSecretValue calls before the TTL = %d, want 2", n)
			}

			b.clock.Advance(time.Second)
			key, _ = m.SecretKey(ctx(t))
			wh, _ = m.WebhookSecrets(ctx(t))
			if key != "sk_test_two" || !slices.Equal(wh, []string{"whsec_two"}) {
				t.Fatal("at the TTL: the cached values were served, want the new ones")
			}
			if n := b.gets.Load(); n != 4 {
				t.Fatalf("GetSecretValue calls after the TTL = %d, want 4", n)
			}
		})
	}
}

func TestManagerConfigValidate(t *testing.T) {
	t.Parallel()
	client := secretsmanager.NewFromConfig(emulator.AWSConfig("http://127.0.0.1:1"))
	tests := []struct {
		name string
		cfg  secrets.ManagerConfig
		ok   bool
	}{
		{name: "ttl-at-cap", cfg: secrets.ManagerConfig{WebhookSecretARN: "a", TTL: 15 * time.Minute}, ok: true},
		{name: "ttl-above-cap", cfg: secrets.ManagerConfig{WebhookSecretARN: "a", TTL: 15*time.Minute + time.Second}},
		{name: "ttl-hour", cfg: secrets.ManagerConfig{SecretKeyARN: "a", TTL: time.Hour}},
		{name: "ttl-negative", cfg: secrets.ManagerConfig{SecretKeyARN: "a", TTL: -time.Second}},
		{name: "refresh-negative", cfg: secrets.ManagerConfig{SecretKeyARN: "a", RefreshInterval: -time.Second}},
		{name: "no-arn", cfg: secrets.ManagerConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := secrets.NewManager(client, tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewManager error = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("error %v is not domain.ErrInvalid", err)
			}
		})
	}
}

func TestManagerRefreshRotation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	arn := b.secret(t, "rotating", `{"webhookSecret":"`+whOld+`"}`)
	m := b.manager(t, secrets.ManagerConfig{WebhookSecretARN: arn})

	if _, err := m.WebhookSecrets(ctx(t)); err != nil {
		t.Fatal(err)
	}
	b.put(t, arn, `{"webhookSecrets":["`+whNew+`","`+whOld+`"]}`)

	// A verification failure refetches at once, long before the 5 min TTL.
	b.clock.Advance(time.Second)
	got, err := m.RefreshWebhookSecrets(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{whNew, whOld}) {
		t.Fatalf("after refresh: %d secrets, want both the new and the old one", len(got))
	}
	if got, _ := m.WebhookSecrets(ctx(t)); !slices.Equal(got, []string{whNew, whOld}) {
		t.Fatal("WebhookSecrets after a refresh does not serve the refreshed secrets")
	}
	if n := b.gets.Load(); n != 2 {
		t.Fatalf("GetSecretValue calls = %d, want 2 (first load, refresh)", n)
	}

	// A second failure within 30 s answers from the cache.
	b.put(t, arn, `{"webhookSecret":"`+whNew+`"}`)
	b.clock.Advance(29 * time.Second)
	got, err = m.RefreshWebhookSecrets(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{whNew, whOld}) || b.gets.Load() != 2 {
		t.Fatalf("refresh within 30s: GetSecretValue calls = %d, want still 2 and the cached secrets", b.gets.Load())
	}

	// After the interval a failure refetches again.
	b.clock.Advance(time.Second)
	got, err = m.RefreshWebhookSecrets(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{whNew}) || b.gets.Load() != 3 {
		t.Fatalf("refresh after 30s: GetSecretValue calls = %d, want 3 and only the new secret", b.gets.Load())
	}
}

func TestManagerSingleflight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(context.Context, *secrets.Manager) error
	}{
		{name: "webhook", call: func(c context.Context, m *secrets.Manager) error { _, err := m.WebhookSecrets(c); return err }},
		{name: "key", call: func(c context.Context, m *secrets.Manager) error { _, err := m.SecretKey(c); return err }},
		{name: "refresh", call: func(c context.Context, m *secrets.Manager) error { _, err := m.RefreshWebhookSecrets(c); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.holding.Store(true)
			m := b.manager(t, secrets.ManagerConfig{
				SecretKeyARN:     b.secret(t, "key", keyValue),
				WebhookSecretARN: b.secret(t, "wh", whOld),
			})
			const burst = 50
			errs := make(chan error, burst)
			for range burst {
				go func() { errs <- tt.call(ctx(t), m) }()
			}
			// Hold the first fetch until it is seen, then give the burst time
			// to pile up behind it; a second fetch would show in the count.
			deadline := time.After(30 * time.Second)
			for b.gets.Load() == 0 {
				select {
				case <-deadline:
					t.Fatal("no GetSecretValue within 30s")
				case <-time.After(5 * time.Millisecond):
				}
			}
			time.Sleep(200 * time.Millisecond)
			close(b.gate)
			for range burst {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if n := b.gets.Load(); n != 1 {
				t.Fatalf("a burst of %d calls made %d GetSecretValue calls, want 1", burst, n)
			}
		})
	}
}
