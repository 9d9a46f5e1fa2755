// Package stripeapi reads events back from the Stripe API, for the operator
// commands `orderflow events replay` and `events reconcile` (SPEC §6): the
// raw JSON of one event, and the events Stripe could not deliver. It wraps
// stripe-go's client with the base URL from STRIPE_API_BASE (stripe-mock in
// tests) and the secret key from the configured secret source.
package stripeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/orderflow/orderflow/domain"
)

// MaxEventAge is how long Stripe keeps events: listing further back finds
// nothing, so a longer window is a mistake worth reporting.
const MaxEventAge = 30 * 24 * time.Hour

// listPageSize is the largest page Stripe serves.
const listPageSize = 100

// KeySource serves the Stripe secret key (backend.SecretSource does).
type KeySource interface {
	SecretKey(ctx context.Context) (string, error)
}

// Config configures a Client.
type Config struct {
	// BaseURL is STRIPE_API_BASE, e.g. https://api.stripe.com.
	BaseURL string
	Keys    KeySource
	Clock   domain.Clock
	// HTTPClient is optional; stripe-go's default client otherwise.
	HTTPClient *http.Client
}

// Validate reports every problem with the config at once.
func (c Config) Validate() error {
	var problems []string
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("base URL %q is not an http(s) URL", c.BaseURL))
	}
	if c.Keys == nil {
		problems = append(problems, "no secret key source")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: stripeapi config: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Client reads events from the Stripe API.
type Client struct {
	cfg     Config
	backend stripe.Backend
}

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	// stripe-go's default logger prints failed requests on stderr; errors are
	// returned instead, in one line, so the CLI keeps its one-line contract.
	bc := &stripe.BackendConfig{
		URL:           stripe.String(strings.TrimRight(cfg.BaseURL, "/")),
		HTTPClient:    cfg.HTTPClient,
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	return &Client{cfg: cfg, backend: stripe.GetBackendWithConfig(stripe.APIBackend, bc)}, nil
}

func (c *Client) api(ctx context.Context) (*client.API, string, error) {
	key, err := c.cfg.Keys.SecretKey(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("stripe secret key: %w", err)
	}
	if key == "" {
		return nil, "", fmt.Errorf("%w: no Stripe secret key: set STRIPE_SECRET_KEY or STRIPE_SECRET_ARN", domain.ErrNotConfigured)
	}
	return client.New(key, &stripe.Backends{API: c.backend, Connect: c.backend, Uploads: c.backend}), key, nil
}

// GetEvent returns the raw JSON of event id. An unknown event is an error
// wrapping domain.ErrNotFound.
func (c *Client) GetEvent(ctx context.Context, id string) ([]byte, error) {
	if strings.TrimSpace(id) == "" || strings.ContainsAny(id, "/?#") {
		return nil, fmt.Errorf("%w: %q is not a Stripe event id", domain.ErrInvalid, id)
	}
	sc, key, err := c.api(ctx)
	if err != nil {
		return nil, err
	}
	params := &stripe.EventParams{}
	params.Context = ctx
	ev, err := sc.Events.Get(id, params)
	if err != nil {
		return nil, apiError(fmt.Sprintf("get event %s", id), id, key, err)
	}
	if ev.LastResponse == nil || len(ev.LastResponse.RawJSON) == 0 {
		return nil, fmt.Errorf("stripe: get event %s: empty response", id)
	}
	return ev.LastResponse.RawJSON, nil
}

// ListUndelivered calls fn with the raw JSON of every event created at or
// after since whose delivery has not succeeded (delivery_success=false),
// newest first as Stripe lists them, following every page. It stops at fn's
// first error. since older than MaxEventAge is rejected: Stripe no longer
// has those events, and a silent partial answer would mislead.
func (c *Client) ListUndelivered(ctx context.Context, since time.Time, fn func(raw []byte) error) error {
	now := c.cfg.Clock.Now()
	if now.Sub(since) > MaxEventAge {
		return fmt.Errorf("%w: %s is more than 30 days (720h) ago; Stripe keeps events for 30 days", domain.ErrInvalid, since.UTC().Format(time.RFC3339))
	}
	if since.After(now) {
		return fmt.Errorf("%w: %s is in the future", domain.ErrInvalid, since.UTC().Format(time.RFC3339))
	}
	sc, key, err := c.api(ctx)
	if err != nil {
		return err
	}
	params := &stripe.EventListParams{
		DeliverySuccess: stripe.Bool(false),
		CreatedRange:    &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
	}
	params.Context = ctx
	params.Limit = stripe.Int64(listPageSize)
	it := sc.Events.List(params)
	// Each event's exact bytes come from its page's raw JSON: stripe-go
	// decodes list items into structs and keeps no per-item raw body.
	var page *stripe.EventList
	raws := map[string][]byte{}
	for it.Next() {
		if l := it.EventList(); l != page {
			page = l
			if raws, err = pageEvents(l); err != nil {
				return fmt.Errorf("stripe: list events: %w", err)
			}
		}
		ev := it.Event()
		raw, ok := raws[ev.ID]
		if !ok {
			if raw, err = json.Marshal(ev); err != nil {
				return fmt.Errorf("stripe: list events: event %s: %w", ev.ID, err)
			}
		}
		if err := fn(raw); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return apiError("list events", "", key, err)
	}
	return nil
}

// pageEvents splits one list page into each event's raw JSON, by id.
func pageEvents(l *stripe.EventList) (map[string][]byte, error) {
	out := map[string][]byte{}
	if l == nil || l.LastResponse == nil || len(l.LastResponse.RawJSON) == 0 {
		return out, nil
	}
	var body struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(l.LastResponse.RawJSON, &body); err != nil {
		return nil, err
	}
	for _, raw := range body.Data {
		var head struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &head); err == nil && head.ID != "" {
			out[head.ID] = raw
		}
	}
	return out, nil
}

// keyPattern finds anything that looks like a Stripe key, masked or not:
// Stripe's "Invalid API Key provided: sk_test_****1234" quotes part of it.
var keyPattern = regexp.MustCompile(`\b(sk|rk|pk)_[A-Za-z0-9_*]+`)

// apiError turns a stripe-go error into one line without the key: 404 wraps
// domain.ErrNotFound with the event id.
func apiError(op, id, key string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripe: %s: %s", op, redact(err.Error(), key))
	}
	if se.HTTPStatusCode == http.StatusNotFound && id != "" {
		return fmt.Errorf("stripe event %s: %w", id, domain.ErrNotFound)
	}
	msg := se.Msg
	if msg == "" {
		msg = string(se.Type)
	}
	return fmt.Errorf("stripe: %s: HTTP %d: %s", op, se.HTTPStatusCode, redact(msg, key))
}

func redact(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, "[redacted]")
	}
	return keyPattern.ReplaceAllString(s, "[redacted]")
}
