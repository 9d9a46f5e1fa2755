// Package ingress receives Stripe webhooks: it verifies the Stripe-Signature
// over the raw body, parses the event envelope, and enqueues the events
// orderflow acts on to the FIFO events queue, answering 200 only once the
// queue has accepted them so that Stripe retries everything else.
//
// The same http.Handler serves `orderflow serve` and, through
// HandleAPIGateway, the ingress Lambda behind API Gateway.
package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
)

// Path is the webhook route; API Gateway stages prefix it (/<stage>/webhooks/stripe).
const Path = "/webhooks/stripe"

// Defaults applied by NewHandler to zero Config fields.
const (
	DefaultTolerance       = 300 * time.Second
	DefaultMaxBody   int64 = 256 << 10
	// DefaultMaxInFlight bounds concurrent webhook requests: at the 256 KiB
	// body limit that is 16 MiB of bodies, and Stripe retries what is turned
	// away. Lambda needs no bound of its own (one request per instance).
	DefaultMaxInFlight = 64
)

// SignatureHeader is the header Stripe signs webhooks in.
const SignatureHeader = "Stripe-Signature"

// Secrets is what the ingress needs from a secrets provider (infra/secrets.Static
// and the Secrets Manager provider implement it).
type Secrets interface {
	// WebhookSecrets returns the cached signing secrets, all of them valid.
	WebhookSecrets(ctx context.Context) ([]string, error)
	// RefreshWebhookSecrets refetches the secrets; providers rate-limit it (at
	// most every 30 s). The ingress calls it once when a request fails
	// verification with every cached secret, so a rotation takes effect at once.
	RefreshWebhookSecrets(ctx context.Context) ([]string, error)
}

// Config configures a Handler. Queue and Secrets are required.
type Config struct {
	Queue     domain.Queue
	Secrets   Secrets
	Logger    *zap.Logger       // nil → zap.NewNop()
	Metrics   *metrics.Recorder // nil records nothing
	Clock     domain.Clock      // nil → domain.SystemClock{}; the signature tolerance is measured with it
	Tolerance time.Duration     // 0 → DefaultTolerance
	MaxBody   int64             // 0 → DefaultMaxBody
	// Mode is the Stripe mode this deployment serves: "live", "test", or ""
	// when unknown (SPEC §3 "Live and test mode"; config derives it from
	// STRIPE_MODE or the secret key's prefix).
	Mode string
	// MaxInFlight bounds the webhook requests handled at once; beyond it the
	// handler answers 503 with Retry-After without reading the body.
	// 0 → DefaultMaxInFlight.
	MaxInFlight int
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Clock == nil {
		c.Clock = domain.SystemClock{}
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultTolerance
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	return c
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var problems []string
	if c.Queue == nil {
		problems = append(problems, "Queue is required")
	}
	if c.Secrets == nil {
		problems = append(problems, "Secrets is required")
	}
	if c.Tolerance < 0 {
		problems = append(problems, fmt.Sprintf("Tolerance %s must not be negative", c.Tolerance))
	}
	if c.Mode != "" && c.Mode != ModeLive && c.Mode != ModeTest {
		problems = append(problems, fmt.Sprintf("Mode %q must be %q, %q or empty", c.Mode, ModeLive, ModeTest))
	}
	if c.MaxBody < 0 {
		problems = append(problems, fmt.Sprintf("MaxBody %d must not be negative", c.MaxBody))
	}
	if c.MaxInFlight < 0 {
		problems = append(problems, fmt.Sprintf("MaxInFlight %d must not be negative", c.MaxInFlight))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: ingress config: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Handler is the webhook endpoint; it is an http.Handler.
type Handler struct {
	cfg Config
	log *zap.Logger
	// inFlight holds one token per request being handled (a semaphore).
	inFlight chan struct{}
}

var _ http.Handler = (*Handler)(nil)

// NewHandler validates cfg, fills its defaults and returns the handler.
func NewHandler(cfg Config) (*Handler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, log: cfg.Logger.Named("ingress"), inFlight: make(chan struct{}, cfg.MaxInFlight)}, nil
}

// Stripe modes (SPEC §3 "Live and test mode").
const (
	ModeLive = "live"
	ModeTest = "test"
)

// Route builds the queue message for an event exactly as the ingress enqueues
// it (domain.Route: SQS-valid group and dedup ids); `orderflow events
// replay/reconcile` reuse it so a replayed event lands in the same group with
// the same dedup id.
func Route(ev domain.Event, raw []byte, source string) domain.OutgoingMessage {
	return domain.Route(ev, raw, source)
}

// route is Route without the copy, for the handler: the body buffer is its
// own and never reused, and a copy of up to 256 KiB per request is what made
// concurrent large posts expensive.
func route(ev domain.Event, raw []byte, source string) domain.OutgoingMessage {
	m := domain.Route(ev, nil, source)
	m.Body = raw
	return m
}

// ServeHTTP answers one webhook delivery (SPEC §4).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, Path) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route for %s; Stripe webhooks are POSTed to %s", r.URL.Path, Path))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed; Stripe webhooks are POSTed to %s", r.Method, Path))
		return
	}
	// Turned away before the body is read, so a flood costs no memory; Stripe
	// retries a 503 like any other 5xx.
	select {
	case h.inFlight <- struct{}{}:
		defer func() { <-h.inFlight }()
	default:
		h.log.Warn("webhook turned away: too many requests in flight", zap.Int("maxInFlight", h.cfg.MaxInFlight))
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("more than %d webhook requests in flight; retry later (Stripe retries automatically)", h.cfg.MaxInFlight))
		return
	}
	ctx := r.Context()
	raw, status, err := h.readBody(r)
	if err != nil {
		h.log.Warn("webhook body rejected", zap.Int("status", status), zap.Error(err))
		writeError(w, status, err.Error())
		return
	}

	if status, err := h.verify(ctx, raw, r.Header.Get(SignatureHeader)); err != nil {
		if status == http.StatusBadRequest {
			h.log.Warn("webhook signature rejected", zap.String("remoteAddr", r.RemoteAddr), zap.Error(err))
		} else {
			h.log.Error("webhook signing secrets unavailable", zap.Error(err))
			err = errors.New("webhook signing secrets are unavailable; try again later")
		}
		writeError(w, status, err.Error())
		return
	}

	ev, err := domain.ParseEvent(raw)
	if err != nil {
		h.log.Warn("webhook body is not a Stripe event", zap.Error(err))
		writeError(w, http.StatusBadRequest, fmt.Sprintf("signature is valid but the body is not a Stripe event: %v", err))
		return
	}
	if len(raw) > domain.MaxEventBody {
		// Under 256 KiB but without room for the attributes a dead-letter
		// send or a redrive adds: accepting it would strand it in the DLQ.
		h.log.Warn("webhook body leaves no room for its queue attributes", zap.Int("bytes", len(raw)))
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("event body is %d bytes; at most %d fit in a queue message with the attributes every hop adds", len(raw), domain.MaxEventBody))
		return
	}
	msg := route(ev, raw, domain.SourceWebhook)
	fields := []zap.Field{
		zap.String(logging.FieldEventID, ev.ID),
		zap.String(logging.FieldEventType, ev.Type),
		zap.String(logging.FieldGroup, msg.GroupID),
	}

	if h.cfg.Mode != "" && ev.Livemode != (h.cfg.Mode == ModeLive) {
		h.cfg.Metrics.Count(metrics.ModeMismatch, 1, map[string]string{"eventType": ev.Type})
		h.log.Warn("webhook event ignored: its livemode does not match this deployment's Stripe mode",
			append(fields, zap.Bool("livemode", ev.Livemode), zap.String("mode", h.cfg.Mode))...)
		writeJSON(w, http.StatusOK, ack{Received: true, Ignored: true})
		return
	}

	if !domain.IsAccepted(ev.Type) {
		h.cfg.Metrics.Count(metrics.EventsReceived, 1, map[string]string{"eventType": ev.Type})
		h.log.Info("webhook event ignored: type not handled", fields...)
		writeJSON(w, http.StatusOK, ack{Received: true, Ignored: true})
		return
	}

	id, err := domain.Enqueue(ctx, h.cfg.Queue, msg)
	if errors.Is(err, domain.ErrMessageTooLarge) {
		// Under MaxBody but over the queue's limit once the attributes are
		// counted (SQS counts both): the same answer as an oversized body.
		h.log.Warn("webhook event too large for the queue with its attributes", append(fields, zap.Error(err))...)
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("event %s is too large to enqueue with its attributes: %v", ev.ID, err))
		return
	}
	if errors.Is(err, domain.ErrInvalid) {
		// The queue refused the message itself (an id or a size SQS would
		// refuse too): a retry sends the same bytes and fails the same way,
		// so a 5xx would only make Stripe retry for three days (issue 12,
		// item 3). Other failures, even permanent ones such as a missing
		// queue, are ours to fix, and Stripe's retries then deliver the
		// event: 503.
		h.log.Warn("webhook event refused by the queue as invalid", append(fields, zap.Error(err))...)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("signature is valid but the event cannot be enqueued: %v", err))
		return
	}
	if err != nil {
		h.log.Error("webhook event not enqueued; answering 503 so Stripe retries", append(fields, zap.Error(err))...)
		writeError(w, http.StatusServiceUnavailable, "could not enqueue the event; retry later (Stripe retries automatically)")
		return
	}
	h.cfg.Metrics.Count(metrics.EventsReceived, 1, map[string]string{"eventType": ev.Type})
	h.log.Info("webhook event enqueued", append(fields, zap.String("messageId", id))...)
	writeJSON(w, http.StatusOK, ack{Received: true})
}

// readBody reads at most MaxBody+1 bytes so an oversized body is detected
// without buffering it. With a Content-Length (Stripe always sends one) the
// body is read into one buffer of exactly that size: io.ReadAll's doubling
// would allocate about twice the body on the way.
func (h *Handler) readBody(r *http.Request) ([]byte, int, error) {
	tooLarge := fmt.Errorf("request body is larger than the %d-byte limit", h.cfg.MaxBody)
	if r.ContentLength > h.cfg.MaxBody {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	if r.Body == nil {
		return nil, 0, nil
	}
	if r.ContentLength >= 0 {
		raw := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, raw); err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("could not read the request body: %w", err)
		}
		// net/http never reads past Content-Length; other callers might
		// pass a longer body, which must not slip past the limit.
		var one [1]byte
		if n, _ := r.Body.Read(one[:]); n > 0 {
			return nil, http.StatusBadRequest, errors.New("request body is longer than its Content-Length")
		}
		return raw, 0, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBody+1))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("could not read the request body: %w", err)
	}
	if int64(len(raw)) > h.cfg.MaxBody {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	return raw, 0, nil
}

// verify checks the signature with the cached secrets and, when that fails,
// once more with refreshed ones. It returns 400 for a bad signature and 503
// when no secret can be had at all.
func (h *Handler) verify(ctx context.Context, raw []byte, header string) (int, error) {
	secrets, err := h.cfg.Secrets.WebhookSecrets(ctx)
	if err != nil {
		return http.StatusServiceUnavailable, fmt.Errorf("webhook secrets: %w", err)
	}
	now := h.cfg.Clock.Now()
	verr := verifySignature(raw, header, secrets, now, h.cfg.Tolerance)
	if verr == nil {
		return 0, nil
	}
	if !errors.Is(verr, errNoMatchingSig) {
		// A missing, malformed or stale header fails with any secret, so
		// refetching them cannot help.
		return http.StatusBadRequest, verr
	}
	refreshed, err := h.cfg.Secrets.RefreshWebhookSecrets(ctx)
	if err != nil {
		// The cached secrets already failed; a provider outage must not turn
		// a bad request into a 5xx, and Stripe retries a 400 anyway.
		h.log.Warn("refreshing webhook secrets after a failed verification", zap.Error(err))
		return http.StatusBadRequest, verr
	}
	if verr = verifySignature(raw, header, refreshed, now, h.cfg.Tolerance); verr != nil {
		return http.StatusBadRequest, verr
	}
	return 0, nil
}

// ack is the 200 reply; a struct keeps the key order of SPEC §4 for anyone
// comparing bodies as strings.
type ack struct {
	Received bool `json:"received"`
	Ignored  bool `json:"ignored,omitempty"`
}

// writeError writes {"error": msg}. Messages never carry secrets or the
// signature header.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<unix seconds>" readable in curl output
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
