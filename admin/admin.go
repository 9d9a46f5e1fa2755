// Package admin is orderflow's admin API and operator console (SPEC §12):
// one http.Handler, served by `orderflow serve` beside the ingress and by the
// AdminFunction Lambda behind the same HTTP API. The JSON API under
// /admin/v1 answers people's tools and the store's other services with a
// Bearer token; the console under /console/ is server-rendered HTML with a
// signed session cookie and a CSRF token on every form. Both call the same
// use-cases as the CLI (workers.Operator, workers.ListOrders, the replayer),
// and the actor of every change is the token's actorId.
package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/metrics"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/workers"
)

// Route prefixes (SPEC §12, §13); API Gateway stages prefix them.
const (
	APIPrefix     = "/admin/"
	ConsolePrefix = "/console"
	AccessPath    = "/v1/access"
	// V1Prefix holds /v1/access; the handler answers every other path under
	// it too, so none gets the ingress's error shape.
	V1Prefix = "/v1/"
)

// maxBody bounds a request body: the largest legitimate one is a few fields.
const maxBody = 64 << 10

// TokenSource serves the configured admin tokens; *secrets.AdminTokens is
// one. Refresh is called once when a presented token matches none.
type TokenSource interface {
	AdminTokens(ctx context.Context) (secrets.AdminTokenSet, error)
	RefreshAdminTokens(ctx context.Context) (secrets.AdminTokenSet, error)
}

// Refunder starts a full refund through Stripe (SPEC §14);
// workers.RefundRequester is the one NewFromBackend wires. Errors:
// domain.ErrNotFound, domain.ErrNotPaid, domain.ErrAlreadyRefunded,
// domain.ErrAlreadyRefunding, domain.ErrInvalid.
type Refunder interface {
	Refund(ctx context.Context, orderID, actorID, reason string) (domain.Order, error)
}

// AccessDecision is the answer of GET /v1/access (SPEC §13).
type AccessDecision = workers.AccessDecision

// Access reasons that steer the status code when a decision carries none.
const (
	ReasonRequiresReview    = workers.AccessRequiresReview
	ReasonNoOrder           = workers.AccessNoOrder
	ReasonDownloadsDisabled = workers.AccessDownloadsDisabled
)

// AccessChecker answers whether a buyer may download a product (SPEC §13);
// workers.AccessChecker is the one NewFromBackend wires.
type AccessChecker interface {
	Check(ctx context.Context, userID, productID string) (AccessDecision, error)
}

// DLQ is the dead-letter queue as the admin API uses it.
type DLQ interface {
	domain.Queue
	domain.Inspector
}

// Config is what the handler is built from.
type Config struct {
	Store  domain.Store
	Events domain.Queue
	DLQ    DLQ
	// Stripe fetches events for replay.
	Stripe workers.EventSource
	Tokens TokenSource
	// SessionKey signs console cookies; empty means the token secret's
	// sessionKey, else a random key made by New (sessions then end with the
	// process).
	SessionKey []byte
	// Refunder and Access serve POST orders/{id}/refund and GET /v1/access
	// (NewFromBackend wires workers.RefundRequester and
	// workers.AccessChecker); nil answers 501 not_implemented.
	Refunder Refunder
	Access   AccessChecker
	// MaxReplays is MAX_REPLAYS for redrive (0: the default).
	MaxReplays int
	// RedriveWait is the DLQ receive wait of a redrive (0: the default).
	RedriveWait time.Duration
	Logger      *zap.Logger
	Metrics     *metrics.Recorder
	Clock       domain.Clock
}

// Validate reports every problem with the config at once.
func (c Config) Validate() error {
	var problems []string
	if c.Store == nil {
		problems = append(problems, "no order store")
	}
	if c.Events == nil {
		problems = append(problems, "no events queue")
	}
	if c.DLQ == nil {
		problems = append(problems, "no dead-letter queue")
	}
	if c.Tokens == nil {
		problems = append(problems, "no token source")
	}
	if n := len(c.SessionKey); n > 0 && n < 32 {
		problems = append(problems, fmt.Sprintf("session key of %d bytes: want at least 32", n))
	}
	if c.MaxReplays < 0 {
		problems = append(problems, "max replays is negative")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: admin config: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Handler serves the admin API, the console and /v1/access.
type Handler struct {
	cfg        Config
	log        *zap.Logger
	clock      domain.Clock
	randomKey  []byte
	api        *http.ServeMux
	console    *http.ServeMux
	pages      *pages
	operator   workers.Operator
	replayEvts workers.EventReplayer
	// revoked are the console sessions signed out in this process.
	revoked *revocations
}

// New validates cfg and builds the handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	p, err := loadPages(cfg.Clock)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg: cfg, log: cfg.Logger, clock: cfg.Clock, randomKey: key, pages: p, revoked: &revocations{},
		operator:   workers.Operator{Store: cfg.Store, Clock: cfg.Clock},
		replayEvts: workers.EventReplayer{Events: cfg.Events, Stripe: cfg.Stripe, Clock: cfg.Clock, Logger: cfg.Logger},
	}
	h.api = h.apiRoutes()
	h.console = h.consoleRoutes()
	return h, nil
}

// Matches reports whether path is one of the handler's routes, with or
// without an API Gateway stage prefix, so a mux can send it here.
func Matches(path string) bool {
	_, rest := splitBase(path)
	return rest != ""
}

// splitBase cuts a stage prefix ("/prod") off path and returns it with the
// route part; rest is "" when path is not an admin route.
func splitBase(path string) (base, rest string) {
	if isRoute(path) {
		return "", path
	}
	if i := stageEnd(path); i > 0 && isRoute(path[i:]) {
		return path[:i], path[i:]
	}
	return "", ""
}

// stageEnd is the index of the second "/" of path, where the route starts
// behind a stage prefix; -1 when there is none.
func stageEnd(path string) int {
	if !strings.HasPrefix(path, "/") {
		return -1
	}
	j := strings.Index(path[1:], "/")
	if j < 0 {
		return -1
	}
	return j + 1
}

// isRoute reports whether path (without a stage) is an admin route.
func isRoute(path string) bool {
	return strings.HasPrefix(path, APIPrefix) || path == ConsolePrefix ||
		strings.HasPrefix(path, ConsolePrefix+"/") || path == AccessPath || strings.HasPrefix(path, V1Prefix)
}

type ctxKey int

const (
	keyBase ctxKey = iota
	keyPrincipal
	keyLog
)

// ServeHTTP routes to the API, the console or /v1/access, logging every
// request with actorId, method, path and status, and never a token.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// Split on the escaped path, so an id with an escaped "/" (%2F) stays
	// one segment for the muxes, which match on the escaped path and
	// unescape each wildcard.
	base, rawRest := splitBase(r.URL.EscapedPath())
	rest, err := url.PathUnescape(rawRest)
	if err != nil {
		rest = ""
	}
	rec := &statusRecorder{ResponseWriter: w}
	info := &requestLog{}
	ctx := context.WithValue(r.Context(), keyBase, base)
	ctx = context.WithValue(ctx, keyLog, info)
	r2 := r.Clone(ctx)
	r2.URL.Path = rest
	r2.URL.RawPath = ""
	if rawRest != rest {
		r2.URL.RawPath = rawRest
	}
	r2.Body = http.MaxBytesReader(rec, r.Body, maxBody)
	// Security headers for every answer: no framing, no sniffing, nothing
	// loaded from anywhere but here (the console works air-gapped).
	hdr := rec.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Cache-Control", "no-store")
	switch {
	case rest == "":
		writeError(rec, http.StatusNotFound, "not_found", "no route for "+r.URL.Path)
	case !h.configured(ctx):
		// SPEC §12: with no token configured the admin surface does not exist.
		if strings.HasPrefix(rest, ConsolePrefix) {
			http.NotFound(rec, r2)
		} else {
			writeError(rec, http.StatusNotFound, "not_found", "the admin API is not enabled: no admin token is configured")
		}
	case strings.HasPrefix(rest, ConsolePrefix):
		hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.console.ServeHTTP(rec, r2)
	default:
		h.api.ServeHTTP(rec, r2)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	fields := []zap.Field{
		zap.String("actorId", info.actorID), zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.Int("status", status), zap.Int64("durationMs", time.Since(start).Milliseconds()),
	}
	if info.err != nil {
		fields = append(fields, zap.Error(info.err))
	}
	if status >= 500 {
		h.log.Warn("admin request", fields...)
	} else {
		h.log.Info("admin request", fields...)
	}
}

// requestLog collects what the request's log line says beyond the basics.
type requestLog struct {
	actorID string
	err     error
}

func logInfo(ctx context.Context) *requestLog {
	if l, ok := ctx.Value(keyLog).(*requestLog); ok {
		return l
	}
	return &requestLog{}
}

func baseOf(ctx context.Context) string {
	b, _ := ctx.Value(keyBase).(string)
	return b
}

// configured reports whether any admin token exists. A token source that
// fails counts as configured, so the caller gets 503, not 404.
func (h *Handler) configured(ctx context.Context) bool {
	set, err := h.cfg.Tokens.AdminTokens(ctx)
	return err != nil || len(set.Tokens) > 0
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Error codes of the JSON API.
const (
	codeBadRequest       = "bad_request"
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeNotFound         = "not_found"
	codeUnavailable      = "unavailable"
	codeNotConfigured    = "not_configured"
	codeNotImplemented   = "not_implemented"
	codeNotFlagged       = "not_flagged"
	codeAlreadyRefunded  = "already_refunded"
	codeAlreadyRefunding = "already_refunding"
	codeNotPaid          = "not_paid"
	codeAlreadyLinked    = "already_linked"
)

// classify maps a use-case error to its status and code (SPEC §12). Anything
// unknown is a backend failure: 503, so a caller retries.
func classify(err error) (status int, code, message string) {
	conflicts := []struct {
		err  error
		code string
	}{
		{domain.ErrNotFlagged, codeNotFlagged}, {domain.ErrAlreadyRefunded, codeAlreadyRefunded},
		{domain.ErrAlreadyRefunding, codeAlreadyRefunding}, {domain.ErrNotPaid, codeNotPaid},
		{domain.ErrAlreadyLinked, codeAlreadyLinked},
	}
	for _, c := range conflicts {
		if errors.Is(err, c.err) {
			return http.StatusConflict, c.code, err.Error()
		}
	}
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return http.StatusNotFound, codeNotFound, err.Error()
	case errors.Is(err, domain.ErrInvalid):
		return http.StatusBadRequest, codeBadRequest, err.Error()
	case errors.Is(err, domain.ErrNotConfigured):
		// Still 503 (SPEC §12's statuses), but saying what to set rather
		// than "retry later": a retry cannot help until someone does.
		return http.StatusServiceUnavailable, codeNotConfigured, err.Error()
	}
	return http.StatusServiceUnavailable, codeUnavailable, "the backend cannot answer now; retry later"
}

// cliForceHint is how the use-case's already_linked error tells a CLI user
// to replace the link; the API and the console each say it their way.
const cliForceHint = " (use --force to replace it)"

// Force hints of an already_linked conflict.
const (
	apiForceHint     = ` (send "force": true to replace it)`
	consoleForceHint = ` (tick "replace the one it has" to replace it)`
)

// withForceHint rewrites an already_linked message for the surface it is
// shown on.
func withForceHint(err error, msg, hint string) string {
	if !errors.Is(err, domain.ErrAlreadyLinked) {
		return msg
	}
	return strings.Replace(msg, cliForceHint, "", 1) + hint
}

// Warm fetches the admin tokens once, so a Lambda's init phase rather than
// its first request pays for the Secrets Manager call.
// It warns when console sessions can only last as long as this process:
// no session key is configured, so each Lambda container signs with its own.
func (h *Handler) Warm(ctx context.Context) error {
	set, err := h.cfg.Tokens.AdminTokens(ctx)
	if err == nil && len(h.cfg.SessionKey) == 0 && set.SessionKey == "" {
		h.log.Warn("no console session key (ORDERFLOW_SESSION_KEY or the admin-tokens secret's sessionKey): sessions are signed with a random key of this process and end with it")
	}
	return err
}
