package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/stripeapi"
	"github.com/orderflow/orderflow/workers"
)

// apiRoutes is the JSON API of SPEC §12 and GET /v1/access of §13.
func (h *Handler) apiRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern string, need Role, fn func(w http.ResponseWriter, r *http.Request, p Principal)) {
		mux.Handle(pattern, h.apiAuth(need, fn))
	}
	handle("GET /admin/v1/orders/{id}", RoleViewer, h.apiGetOrder)
	handle("GET /admin/v1/orders", RoleViewer, h.apiListOrders)
	handle("POST /admin/v1/orders/{id}/clear-review", RoleOperator, h.apiClearReview)
	handle("POST /admin/v1/orders/{id}/mark-refunded", RoleOperator, h.apiMarkRefunded)
	handle("POST /admin/v1/orders/{id}/link-payment-intent", RoleOperator, h.apiLinkPaymentIntent)
	handle("POST /admin/v1/orders/{id}/refund", RoleOperator, h.apiRefund)
	handle("GET /admin/v1/dlq", RoleViewer, h.apiListDLQ)
	handle("POST /admin/v1/dlq/redrive", RoleOperator, h.apiRedrive)
	handle("POST /admin/v1/events/{evt}/replay", RoleOperator, h.apiReplay)
	handle("GET /v1/access", RoleService, h.apiAccess)
	// /v1/access is public knowledge (SPEC §13): another method is 405 and
	// any other /v1/ path 404, without asking for a token.
	mux.HandleFunc(AccessPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("method %s is not allowed on %s; use GET", r.Method, baseOf(r.Context())+AccessPath))
	})
	mux.HandleFunc(V1Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("no route for %s %s; the download check is GET %s", r.Method, baseOf(r.Context())+r.URL.Path, baseOf(r.Context())+AccessPath))
	})
	// Anything else under the API: authenticate first, so an unknown path
	// tells an anonymous caller nothing, then 404.
	mux.Handle("/", h.apiAuth("", func(w http.ResponseWriter, r *http.Request, _ Principal) {
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("no route for %s %s", r.Method, baseOf(r.Context())+r.URL.Path))
	}))
	return mux
}

// apiAuth authenticates the Bearer token and checks its role ("" for any).
func (h *Handler) apiAuth(need Role, fn func(w http.ResponseWriter, r *http.Request, p Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := h.authenticate(r.Context(), bearer(r))
		switch {
		case errors.Is(err, errTokenSource):
			logInfo(r.Context()).err = err
			writeError(w, http.StatusServiceUnavailable, codeUnavailable, "admin tokens cannot be read now; retry later")
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="orderflow-admin"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "missing or unknown token: send Authorization: Bearer <token>")
			return
		}
		logInfo(r.Context()).actorID = p.ActorID
		if need != "" && !p.can(need) {
			writeError(w, http.StatusForbidden, codeForbidden, fmt.Sprintf("role %s may not %s %s", p.Role, r.Method, baseOf(r.Context())+r.URL.Path))
			return
		}
		fn(w, r, p)
	})
}

// writeError writes {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// errTooLarge is a body over maxBody: 413.
var errTooLarge = fmt.Errorf("%w: request body over %d bytes", domain.ErrInvalid, maxBody)

// fail answers a use-case error with its status and code.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
		return
	}
	status, code, msg := classify(err)
	if status >= 500 {
		logInfo(r.Context()).err = err
	}
	writeError(w, status, code, withForceHint(err, msg, apiForceHint))
}

// decode reads an optional JSON body into v. Unknown fields are ignored: an
// "actor" field, for one, changes nothing, as the actor is the token's.
func decode(r *http.Request, v any) error {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errTooLarge
		}
		return fmt.Errorf("%w: read body: %v", domain.ErrInvalid, err)
	}
	if strings.TrimSpace(string(raw)) == "" {
		return nil
	}
	// Strict as webhook bodies are read: one value (no trailing data),
	// exact-case keys ("Force" is not "force"), none repeated. Unknown keys
	// are ignored: an "actorId" in the body never names the actor.
	if err := domain.DecodeStrict(raw, v); err != nil {
		return fmt.Errorf("%w: body is not the expected JSON object: %v", domain.ErrInvalid, err)
	}
	return nil
}

func (h *Handler) apiGetOrder(w http.ResponseWriter, r *http.Request, _ Principal) {
	id := r.PathValue("id")
	o, err := h.cfg.Store.Get(r.Context(), id)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			err = fmt.Errorf("order %s: %w", id, domain.ErrNotFound)
		}
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// filterFromQuery reads the list filters shared by the API and the console.
func filterFromQuery(q map[string][]string) (domain.Filter, int, string, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	f := domain.Filter{UserID: get("user"), SellerID: get("seller"), PaymentIntentID: get("paymentIntent")}
	if s := get("status"); s != "" {
		f.Status = domain.Status(s)
		if !f.Status.Valid() {
			return f, 0, "", fmt.Errorf("%w: status %q: want pending, completed, cancelled or refunded", domain.ErrInvalid, s)
		}
	}
	if s := get("requiresReview"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return f, 0, "", fmt.Errorf("%w: requiresReview %q: want true or false", domain.ErrInvalid, s)
		}
		f.RequiresReview = &b
	}
	limit := 0
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > workers.MaxPageSize {
			return f, 0, "", fmt.Errorf("%w: limit %q: want 1 to %d", domain.ErrInvalid, s, workers.MaxPageSize)
		}
		limit = n
	}
	return f, limit, get("cursor"), nil
}

func (h *Handler) apiListOrders(w http.ResponseWriter, r *http.Request, _ Principal) {
	f, limit, cursor, err := filterFromQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := workers.ListOrders(r.Context(), h.cfg.Store, f, limit, cursor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if page.Orders == nil {
		page.Orders = []domain.Order{}
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *Handler) apiClearReview(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := decode(r, &struct{}{}); err != nil {
		h.fail(w, r, err)
		return
	}
	h.answerOrder(w, r)(h.operator.ClearReview(r.Context(), r.PathValue("id"), p.ActorID))
}

func (h *Handler) apiMarkRefunded(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := decode(r, &struct{}{}); err != nil {
		h.fail(w, r, err)
		return
	}
	h.answerOrder(w, r)(h.operator.MarkRefunded(r.Context(), r.PathValue("id"), p.ActorID))
}

func (h *Handler) apiLinkPaymentIntent(w http.ResponseWriter, r *http.Request, p Principal) {
	var body struct {
		PaymentIntentID string `json:"paymentIntentId"`
		Force           bool   `json:"force"`
	}
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	h.answerOrder(w, r)(h.operator.LinkPaymentIntent(r.Context(), r.PathValue("id"), strings.TrimSpace(body.PaymentIntentID), p.ActorID, body.Force))
}

func checkRefundReason(reason string) error {
	if stripeapi.ValidRefundReason(reason) {
		return nil
	}
	return fmt.Errorf("%w: reason %q: want requested_by_customer, duplicate or fraudulent", domain.ErrInvalid, reason)
}

func (h *Handler) apiRefund(w http.ResponseWriter, r *http.Request, p Principal) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkRefundReason(body.Reason); err != nil {
		h.fail(w, r, err)
		return
	}
	if h.cfg.Refunder == nil {
		writeError(w, http.StatusNotImplemented, codeNotImplemented, "refunds from orderflow are not enabled in this build")
		return
	}
	h.answerOrder(w, r)(h.cfg.Refunder.Refund(r.Context(), r.PathValue("id"), p.ActorID, body.Reason))
}

// answerOrder writes an operator action's order, or its error.
func (h *Handler) answerOrder(w http.ResponseWriter, r *http.Request) func(domain.Order, error) {
	return func(o domain.Order, err error) {
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, o)
	}
}

func (h *Handler) apiListDLQ(w http.ResponseWriter, r *http.Request, _ Principal) {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > workers.DLQPeekLimit {
			h.fail(w, r, fmt.Errorf("%w: limit %q: want 1 to %d", domain.ErrInvalid, s, workers.DLQPeekLimit))
			return
		}
		limit = n
	}
	entries, err := workers.ListDLQ(r.Context(), h.cfg.DLQ, h.clock, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if entries == nil {
		entries = []workers.DLQEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": entries})
}

func (h *Handler) apiRedrive(w http.ResponseWriter, r *http.Request, _ Principal) {
	var opts workers.RedriveOptions
	if err := decode(r, &opts); err != nil {
		h.fail(w, r, err)
		return
	}
	sum, err := h.redrive(r, opts)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// redrive runs one redrive (SPEC §6) for the API and the console.
func (h *Handler) redrive(r *http.Request, opts workers.RedriveOptions) (workers.RedriveSummary, error) {
	opts.Type = strings.TrimSpace(opts.Type)
	if opts.Limit < 0 {
		return workers.RedriveSummary{}, fmt.Errorf("%w: limit %d: want 0 (all) or more", domain.ErrInvalid, opts.Limit)
	}
	if strings.ContainsAny(opts.Type, " \t\r\n") {
		return workers.RedriveSummary{}, fmt.Errorf("%w: type %q: want one eventType, e.g. charge.refunded", domain.ErrInvalid, opts.Type)
	}
	rp, err := workers.NewReplayer(workers.ReplayConfig{
		DLQ: h.cfg.DLQ, Events: h.cfg.Events, Logger: h.log, Metrics: h.cfg.Metrics,
		MaxReplays: h.cfg.MaxReplays, Clock: h.clock, ReceiveWait: h.cfg.RedriveWait,
	})
	if err != nil {
		return workers.RedriveSummary{}, err
	}
	return rp.Redrive(r.Context(), opts)
}

func (h *Handler) apiReplay(w http.ResponseWriter, r *http.Request, _ Principal) {
	if err := decode(r, &struct{}{}); err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.replay(r, r.PathValue("evt"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) replay(r *http.Request, id string) (workers.ReplayResult, error) {
	if err := workers.CheckEventID(id); err != nil {
		return workers.ReplayResult{}, err
	}
	if h.cfg.Stripe == nil {
		return workers.ReplayResult{}, errors.New("no Stripe API client configured")
	}
	return h.replayEvts.Replay(r.Context(), id)
}

func (h *Handler) apiAccess(w http.ResponseWriter, r *http.Request, _ Principal) {
	q := r.URL.Query()
	user, product := strings.TrimSpace(q.Get("userId")), strings.TrimSpace(q.Get("productId"))
	if user == "" || product == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "GET /v1/access needs userId and productId")
		return
	}
	if h.cfg.Access == nil {
		writeError(w, http.StatusNotImplemented, codeNotImplemented, "download access checks are not enabled in this build")
		return
	}
	d, err := h.cfg.Access.Check(r.Context(), user, product)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := d.HTTPStatus
	switch {
	case status != 0:
	case d.Allowed:
		status = http.StatusOK
	case d.Reason == ReasonRequiresReview:
		status = http.StatusLocked
	default:
		status = http.StatusForbidden
	}
	writeJSON(w, status, d)
}
