// Package doctor checks a deployment against the operations playbook's
// checklists (SPEC §15, playbook §4 and §9) for `orderflow doctor`: the
// orders table and its indexes, both queues and the redrive between them,
// an empty dead-letter queue, the Stripe secrets, the Stripe key and the
// webhook endpoint registered for this deployment; on SQLite the database
// file, its permissions and its integrity. Every check yields one Result;
// none prints or returns a secret value.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/infra/stripeapi"
)

// Names of the checks, in the order they run.
const (
	CheckSQLiteFile        = "sqlite.file"
	CheckSQLitePermissions = "sqlite.permissions"
	CheckSQLiteIntegrity   = "sqlite.integrity"
	CheckTable             = "dynamodb.table"
	CheckIndexPrefix       = "dynamodb.index." // + index name
	CheckEventsQueue       = "sqs.events"
	CheckDLQ               = "sqs.dlq"
	CheckRedrive           = "sqs.redrive"
	CheckDLQEmpty          = "dlq.empty"
	CheckSecretKey         = "secret.stripeKey"
	CheckWebhookSecret     = "secret.webhookSecret"
	CheckStripeKey         = "stripe.key"
	CheckWebhookEndpoint   = "stripe.webhookEndpoint"
)

// DefaultTimeout bounds each check, so one unreachable service cannot hang
// the whole run.
const DefaultTimeout = 15 * time.Second

// Result is one check's outcome, printed as one JSON line.
type Result struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Options configures a run.
type Options struct {
	Config config.Config
	// AWS is the SDK configuration; nil loads the standard one
	// (backend.LoadAWS) when a check needs AWS.
	AWS *aws.Config
	// HTTPClient is the Stripe API's; nil is stripe-go's default.
	HTTPClient *http.Client
	// Timeout bounds each check; 0 means DefaultTimeout.
	Timeout time.Duration
}

// doctor is one run.
type doctor struct {
	opts Options
	cfg  config.Config
	emit func(Result)
	// key is the Stripe secret key once secret.stripeKey passed.
	key    string
	awsCfg *aws.Config
	awsErr error
}

// Run performs every check of the configured backend, calling emit with each
// result as it is known, and returns how many failed.
func Run(ctx context.Context, opts Options, emit func(Result)) int {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	failed := 0
	d := &doctor{opts: opts, cfg: opts.Config, awsCfg: opts.AWS, emit: func(r Result) {
		if !r.OK {
			failed++
		}
		emit(r)
	}}
	switch d.cfg.Backend {
	case config.BackendAWS:
		d.awsChecks(ctx)
	default:
		d.sqliteChecks(ctx)
	}
	d.secretChecks(ctx)
	d.stripeChecks(ctx)
	return failed
}

// check runs fn with the per-check timeout and emits its result.
func (d *doctor) check(ctx context.Context, name string, fn func(ctx context.Context) (string, error)) bool {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	detail, err := fn(ctx)
	if err != nil {
		d.emit(Result{Check: name, Detail: oneLine(err.Error())})
		return false
	}
	d.emit(Result{Check: name, OK: true, Detail: oneLine(detail)})
	return true
}

// skip reports a check that could not run because an earlier one failed.
func (d *doctor) skip(name, why string) {
	d.emit(Result{Check: name, Detail: "not checked: " + why})
}

func (d *doctor) aws(ctx context.Context) (aws.Config, error) {
	if d.awsCfg == nil && d.awsErr == nil {
		c, err := backend.LoadAWS(ctx)
		if err != nil {
			d.awsErr = err
		} else {
			d.awsCfg = &c
		}
	}
	if d.awsErr != nil {
		return aws.Config{}, d.awsErr
	}
	return *d.awsCfg, nil
}

// secretChecks reads both Stripe secrets where this process would (Secrets
// Manager when an ARN is set, else the environment, else on SQLite the dev
// signing secret `orderflow serve` keeps) and checks their shape.
func (d *doctor) secretChecks(ctx context.Context) {
	d.check(ctx, CheckSecretKey, func(ctx context.Context) (string, error) {
		if arn := d.cfg.StripeSecretARN; arn != "" {
			m, err := d.manager(ctx, secrets.ManagerConfig{SecretKeyARN: arn})
			if err != nil {
				return "", err
			}
			key, err := m.SecretKey(ctx)
			if err != nil {
				return "", err
			}
			d.key = key
			return fmt.Sprintf("STRIPE_SECRET_ARN (%s) holds a %s", secretName(arn), keyKind(key)), nil
		}
		key := d.cfg.StripeSecretKey
		if key == "" {
			return "", errors.New("no Stripe secret key: set STRIPE_SECRET_ARN (Secrets Manager) or STRIPE_SECRET_KEY")
		}
		if !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_") {
			return "", errors.New("STRIPE_SECRET_KEY does not look like a Stripe secret key (sk_… or rk_…)")
		}
		d.key = key
		return "STRIPE_SECRET_KEY holds a " + keyKind(key), nil
	})
	d.check(ctx, CheckWebhookSecret, func(ctx context.Context) (string, error) {
		if arn := d.cfg.StripeWebhookSecretARN; arn != "" {
			m, err := d.manager(ctx, secrets.ManagerConfig{WebhookSecretARN: arn})
			if err != nil {
				return "", err
			}
			vals, err := m.WebhookSecrets(ctx)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("STRIPE_WEBHOOK_SECRET_ARN (%s) holds %d signing secret(s)", secretName(arn), len(vals)), nil
		}
		if v := d.cfg.StripeWebhookSecret; v != "" {
			n, err := countSigningSecrets(v)
			if err != nil {
				return "", fmt.Errorf("STRIPE_WEBHOOK_SECRET %w", err)
			}
			return fmt.Sprintf("STRIPE_WEBHOOK_SECRET holds %d signing secret(s)", n), nil
		}
		if d.cfg.Backend == config.BackendAWS {
			return "", errors.New("no webhook signing secret: set STRIPE_WEBHOOK_SECRET_ARN (Secrets Manager) or STRIPE_WEBHOOK_SECRET")
		}
		path := filepath.Join(filepath.Dir(d.cfg.DBPath), "webhook-secret")
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("no webhook signing secret: STRIPE_WEBHOOK_SECRET is not set and %s cannot be read (orderflow serve makes it): %w", path, errors.Unwrap(err))
		}
		if _, err := countSigningSecrets(strings.TrimSpace(string(b))); err != nil {
			return "", fmt.Errorf("%s %w; delete it and orderflow serve makes a new one", path, err)
		}
		return "the development signing secret in " + path, nil
	})
}

func (d *doctor) manager(ctx context.Context, mc secrets.ManagerConfig) (*secrets.Manager, error) {
	awsCfg, err := d.aws(ctx)
	if err != nil {
		return nil, err
	}
	mc.TTL = d.cfg.SecretsTTL
	return secrets.NewManager(secretsmanager.NewFromConfig(awsCfg), mc)
}

func countSigningSecrets(v string) (int, error) {
	n := 0
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.HasPrefix(s, "whsec_") || len(s) <= len("whsec_") {
			return 0, errors.New("holds a value that is not a signing secret (whsec_…)")
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("holds no signing secret")
	}
	return n, nil
}

// keyKind names the kind and mode of a key without quoting any of it.
func keyKind(key string) string {
	kind := "secret key"
	if strings.HasPrefix(key, "rk_") {
		kind = "restricted key"
	}
	switch {
	case strings.HasPrefix(key[3:], "live_"):
		return "live-mode " + kind
	case strings.HasPrefix(key[3:], "test_"):
		return "test-mode " + kind
	}
	return kind
}

func secretName(arn string) string {
	if i := strings.Index(arn, ":secret:"); i >= 0 {
		return arn[i+len(":secret:"):]
	}
	return arn
}

// stripeChecks asks Stripe whether the key works and whether a webhook
// endpoint sends this deployment every event type orderflow handles.
func (d *doctor) stripeChecks(ctx context.Context) {
	if d.key == "" {
		d.skip(CheckStripeKey, "no usable Stripe secret key (see "+CheckSecretKey+")")
		d.skip(CheckWebhookEndpoint, "no usable Stripe secret key (see "+CheckSecretKey+")")
		return
	}
	client, err := stripeapi.New(stripeapi.Config{BaseURL: d.cfg.StripeAPIBase, Keys: staticKey(d.key), HTTPClient: d.opts.HTTPClient})
	if err != nil {
		d.emit(Result{Check: CheckStripeKey, Detail: oneLine(err.Error())})
		d.skip(CheckWebhookEndpoint, "no Stripe API client")
		return
	}
	keyOK := d.check(ctx, CheckStripeKey, func(ctx context.Context) (string, error) {
		if err := client.CheckKey(ctx); err != nil {
			return "", err
		}
		return fmt.Sprintf("Stripe accepts the %s at %s (GET /v1/balance)", keyKind(d.key), d.cfg.StripeAPIBase), nil
	})
	if !keyOK {
		d.skip(CheckWebhookEndpoint, "Stripe does not accept the key (see "+CheckStripeKey+")")
		return
	}
	d.check(ctx, CheckWebhookEndpoint, func(ctx context.Context) (string, error) {
		want := d.cfg.StripeWebhookURL
		if want == "" {
			if d.cfg.Backend != config.BackendAWS {
				return "skipped: STRIPE_WEBHOOK_URL is not set (a local run gets events from `stripe listen --forward-to`; set it to check a registered endpoint)", nil
			}
			return "", errors.New("STRIPE_WEBHOOK_URL is not set: set it to this deployment's https://…/<stage>/webhooks/stripe to check its Stripe webhook endpoint")
		}
		eps, err := client.ListWebhookEndpoints(ctx)
		if err != nil {
			return "", err
		}
		return matchEndpoint(eps, want, domain.AcceptedEventTypes())
	})
}

// matchEndpoint finds an enabled endpoint for url that sends every type
// (or "*"), or explains what the closest one lacks.
func matchEndpoint(eps []stripeapi.WebhookEndpoint, want string, types []string) (string, error) {
	var problems []string
	var others []string
	for _, e := range eps {
		if !sameURL(e.URL, want) {
			others = append(others, e.URL)
			continue
		}
		var missing []string
		if !slices.Contains(e.EnabledEvents, "*") {
			for _, t := range types {
				if !slices.Contains(e.EnabledEvents, t) {
					missing = append(missing, t)
				}
			}
		}
		switch {
		case e.Status != "" && e.Status != "enabled":
			problems = append(problems, fmt.Sprintf("%s is %s", e.ID, e.Status))
		case len(missing) > 0:
			problems = append(problems, fmt.Sprintf("%s lacks %s", e.ID, strings.Join(missing, ", ")))
		default:
			if slices.Contains(e.EnabledEvents, "*") {
				return fmt.Sprintf("%s is enabled for %s with every event type (*)", e.ID, e.URL), nil
			}
			return fmt.Sprintf("%s is enabled for %s with all %d event types orderflow handles", e.ID, e.URL, len(types)), nil
		}
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("no usable webhook endpoint for %s: %s (it needs: %s)", want, strings.Join(problems, "; "), strings.Join(types, ", "))
	}
	detail := fmt.Sprintf("no Stripe webhook endpoint points at %s", want)
	if len(others) > 0 {
		if len(others) > 3 {
			others = append(others[:3], "…")
		}
		detail += " (the account has: " + strings.Join(others, ", ") + ")"
	}
	return "", errors.New(detail + "; add one in the Stripe dashboard with the event types " + strings.Join(types, ", "))
}

// sameURL compares webhook URLs as Stripe would deliver to them: scheme and
// host without case, the path without a trailing slash.
func sameURL(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		strings.TrimRight(ua.Path, "/") == strings.TrimRight(ub.Path, "/") && ua.RawQuery == ub.RawQuery
}

type staticKey string

func (k staticKey) SecretKey(context.Context) (string, error) { return string(k), nil }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
