package admin

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/stripeapi"
	"github.com/orderflow/orderflow/workers"
)

//go:embed templates/*.html static/*
var assets embed.FS

// QueuePath is the review queue, where signing in lands.
const QueuePath = ConsolePrefix + "/queue"

// pages are the console's parsed templates, one per page, each with the
// shared layout.
type pages struct {
	byName map[string]*template.Template
	static http.Handler
}

func loadPages(clock domain.Clock) (*pages, error) {
	funcs := template.FuncMap{
		"when":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":      func(t time.Time) string { return ago(clock.Now().Sub(t)) },
		"age":      func(s int64) string { return ago(time.Duration(s) * time.Second) },
		"money":    money,
		"pathid":   url.PathEscape,
		"meta":     metaPairs,
		"flagged":  flaggedAt,
		"canClear": func(o domain.Order) bool { return o.RequiresReview },
		"canMark":  func(o domain.Order) bool { return o.Status != domain.StatusRefunded },
		// canRefund and refundPending follow the use-case's own guard: a
		// refund_requested not yet followed by its outcome is pending.
		"canRefund":     func(o domain.Order) bool { return domain.RefundGuard(o) == nil },
		"refundPending": func(o domain.Order) bool { return errors.Is(domain.RefundGuard(o), domain.ErrAlreadyRefunding) },
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		p.byName[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	p.static = http.FileServerFS(static)
	return p, nil
}

// ago says how long ago in one short phrase.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// money formats minor units with the currency code; zero-decimal currencies
// are shown whole.
func money(amount int64, currency string) string {
	cur := strings.ToUpper(currency)
	switch cur {
	case "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF", "BIF", "DJF", "GNF", "KMF", "MGA", "VUV", "XPF":
		return fmt.Sprintf("%d %s", amount, cur)
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, amount/100, amount%100, cur)
}

type pair struct{ Key, Value string }

func metaPairs(m map[string]any) []pair {
	out := make([]pair, 0, len(m))
	for k, v := range m {
		out = append(out, pair{k, fmt.Sprint(v)})
	}
	slices.SortFunc(out, func(a, b pair) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// flaggedAt is when the order was last flagged: the newest timeline entry
// that can set the review flag, else its last update.
func flaggedAt(o domain.Order) time.Time {
	for i := len(o.Timeline) - 1; i >= 0; i-- {
		switch o.Timeline[i].Type {
		case domain.EntryReviewRequired, domain.EntryDisputeOpened, domain.EntryRefundFailed, domain.EntryPaymentSucceeded:
			return o.Timeline[i].At
		}
	}
	return o.UpdatedAt
}

// view is what every console page renders from.
type view struct {
	Title   string
	Nav     string
	Base    string
	Me      *Principal
	CSRF    string
	Flash   string
	Error   string
	Next    string
	Status  int
	Orders  []domain.Order
	More    string
	Order   *domain.Order
	Query   string
	Filter  string
	DLQ     []workers.DLQEntry
	Summary *workers.RedriveSummary
	DryRun  bool
	Type    string
	Limit   string
	Replay  *workers.ReplayResult
	EventID string
	Reasons []string
	// RefundEnabled says whether refunds through Stripe are wired (§14).
	RefundEnabled bool
	// Confirm is the order action the confirm page asks about ("refund" or
	// "mark-refunded"), Reason the refund reason it carries.
	Confirm string
	Reason  string
}

// CanAct reports whether the signed-in user may use action buttons.
func (v view) CanAct() bool { return v.Me != nil && v.Me.Role == RoleOperator }

// render writes page with v, setting the common fields.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, page string, v view) {
	v.Base = baseOf(r.Context())
	if v.Status == 0 {
		v.Status = http.StatusOK
	}
	t := h.pages.byName[page]
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		logInfo(r.Context()).err = err
		http.Error(w, "the console could not render this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(v.Status)
	_, _ = w.Write(buf.Bytes())
}

// consoleRoutes is the operator console (SPEC §12).
func (h *Handler) consoleRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, baseOf(r.Context())+QueuePath, http.StatusSeeOther)
	})
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.pages.static.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /console/signin", h.signinPage)
	mux.HandleFunc("POST /console/signin", h.signin)
	mux.Handle("POST /console/signout", h.page(RoleViewer, h.signout))
	// The queue is at /console/queue so that API Gateway's /console/{proxy+}
	// route reaches it; /console/ serves it too for local use.
	mux.Handle("GET /console/{$}", h.page(RoleViewer, h.queuePage))
	mux.Handle("GET "+QueuePath, h.page(RoleViewer, h.queuePage))
	mux.Handle("GET /console/orders/{id}", h.page(RoleViewer, h.orderPage))
	mux.Handle("POST /console/orders/{id}/{action}", h.page(RoleOperator, h.orderAction))
	mux.Handle("GET /console/orders/{id}/{action}", h.page(RoleOperator, h.confirmGet))
	mux.Handle("GET /console/search", h.page(RoleViewer, h.searchPage))
	mux.Handle("GET /console/dlq", h.page(RoleViewer, h.dlqPage))
	mux.Handle("POST /console/dlq/redrive", h.page(RoleOperator, h.redrivePost))
	mux.Handle("GET /console/replay", h.page(RoleViewer, h.replayPage))
	mux.Handle("POST /console/replay", h.page(RoleOperator, h.replayPost))
	mux.Handle("/", h.page(RoleViewer, func(w http.ResponseWriter, r *http.Request, v view) {
		v.Title, v.Status = "Not found", http.StatusNotFound
		v.Error = "There is no console page at " + baseOf(r.Context()) + r.URL.Path + "."
		h.render(w, r, "message", v)
	}))
	return mux
}

// page wraps a console handler: a valid session whose token is still
// configured, the role, and on POST the session's CSRF token. A signed-out
// visitor is sent to sign in and brought back afterwards.
func (h *Handler) page(need Role, fn func(w http.ResponseWriter, r *http.Request, v view)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := h.readSession(r)
		if ok {
			valid, err := h.stillValid(r.Context(), s.principal())
			if err != nil {
				logInfo(r.Context()).err = err
				h.render(w, r, "message", view{Title: "Unavailable", Status: http.StatusServiceUnavailable,
					Error: "The admin tokens cannot be read now. Try again in a moment."})
				return
			}
			ok = valid
		}
		if !ok {
			http.SetCookie(w, h.cookie(r, sessionCookie, "", -1))
			next := ""
			if r.Method == http.MethodGet {
				next = r.URL.RequestURI()
			}
			h.toSignin(w, r, next)
			return
		}
		p := s.principal()
		logInfo(r.Context()).actorID = p.ActorID
		v := view{Me: &p, CSRF: csrfToken(h.sessionKey(r.Context()), "session", s.ID)}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil || !validCSRF(r.PostForm.Get(csrfField), v.CSRF) {
				h.csrfRefused(w, r, v)
				return
			}
		}
		if !p.can(need) {
			v.Title, v.Status = "Not allowed", http.StatusForbidden
			v.Error = fmt.Sprintf("Your role, %s, may not do this. Ask for an operator token.", p.Role)
			h.render(w, r, "message", v)
			return
		}
		fn(w, r, v)
	})
}

func validCSRF(got, want string) bool {
	return got != "" && len(got) == len(want) && hmacEqual(got, want)
}

func (h *Handler) csrfRefused(w http.ResponseWriter, r *http.Request, v view) {
	v.Title, v.Status = "Form refused", http.StatusForbidden
	v.Error = "This form was refused: its security token (CSRF) is missing or does not belong to your session. Reload the page and try again."
	h.render(w, r, "message", v)
}

func (h *Handler) toSignin(w http.ResponseWriter, r *http.Request, next string) {
	u := baseOf(r.Context()) + ConsolePrefix + "/signin"
	if next != "" && next != ConsolePrefix+"/" && next != QueuePath {
		u += "?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination inside the console.
func safeNext(next string) string {
	if strings.HasPrefix(next, ConsolePrefix+"/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, `\`) && !strings.Contains(next, "/console/signin") {
		return next
	}
	return QueuePath
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	if s, ok := h.readSession(r); ok {
		if valid, _ := h.stillValid(r.Context(), s.principal()); valid {
			http.Redirect(w, r, baseOf(r.Context())+safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	h.renderSignin(w, r, r.URL.Query().Get("next"), "", http.StatusOK)
}

// renderSignin shows the sign-in form with a fresh nonce cookie and the CSRF
// token derived from it.
func (h *Handler) renderSignin(w http.ResponseWriter, r *http.Request, next, problem string, status int) {
	nonce := randomID()
	key := h.sessionKey(r.Context())
	signed, err := sign(key, "signin", map[string]any{"n": nonce, "e": h.clock.Now().Add(signinTTL).Unix()})
	if err != nil {
		http.Error(w, "cannot sign in now", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, h.cookie(r, signinCookie, signed, signinTTL))
	v := view{Title: "Sign in", CSRF: csrfToken(key, "signin", nonce), Next: next, Error: problem, Status: status}
	if r.URL.Query().Get("ok") == "signed_out" {
		v.Flash = "You are signed out."
	}
	h.render(w, r, "signin", v)
}

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.renderSignin(w, r, "", "The form could not be read.", http.StatusBadRequest)
		return
	}
	next := r.PostForm.Get("next")
	key := h.sessionKey(r.Context())
	var nonce struct {
		N string `json:"n"`
		E int64  `json:"e"`
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || !verify(key, "signin", c.Value, &nonce) || h.clock.Now().Unix() >= nonce.E ||
		!validCSRF(r.PostForm.Get(csrfField), csrfToken(key, "signin", nonce.N)) {
		h.csrfRefused(w, r, view{})
		return
	}
	p, err := h.authenticate(r.Context(), strings.TrimSpace(r.PostForm.Get("token")))
	switch {
	case errors.Is(err, errTokenSource):
		logInfo(r.Context()).err = err
		h.renderSignin(w, r, next, "The admin tokens cannot be read now. Try again in a moment.", http.StatusServiceUnavailable)
		return
	case err != nil:
		h.renderSignin(w, r, next, "That token is not valid.", http.StatusUnauthorized)
		return
	}
	logInfo(r.Context()).actorID = p.ActorID
	if !p.can(RoleViewer) {
		h.renderSignin(w, r, next, "Service tokens cannot sign in to the console; use a viewer or operator token.", http.StatusForbidden)
		return
	}
	if err := h.startSession(w, r, p); err != nil {
		h.renderSignin(w, r, next, "Cannot sign in now.", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, baseOf(r.Context())+safeNext(next), http.StatusSeeOther)
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request, _ view) {
	h.endSession(w, r)
	http.Redirect(w, r, baseOf(r.Context())+ConsolePrefix+"/signin?ok=signed_out", http.StatusSeeOther)
}

// flashes are the fixed confirmations a redirect may ask for by code, so no
// request text is ever echoed as a message.
var flashes = map[string]string{
	"clear-review":        "Review cleared. The order no longer blocks downloads.",
	"mark-refunded":       "Marked refunded.",
	"link-payment-intent": "Payment intent linked. Redrive the DLQ so its events find the order.",
	"refund":              "Refund requested from Stripe. The order turns refunded when Stripe confirms it.",
}

func (h *Handler) queuePage(w http.ResponseWriter, r *http.Request, v view) {
	flagged := true
	page, err := workers.ListOrders(r.Context(), h.cfg.Store, domain.Filter{RequiresReview: &flagged}, 100, r.URL.Query().Get("cursor"))
	if err != nil {
		h.pageError(w, r, v, err)
		return
	}
	v.Title, v.Nav, v.Orders, v.More = "Review queue", "queue", page.Orders, page.Next
	if c := r.URL.Query().Get("ok"); flashes[c] != "" {
		v.Flash = flashes[c] + " (" + r.URL.Query().Get("order") + ")"
	}
	h.render(w, r, "queue", v)
}

// pageError renders a use-case error on its own page with its status.
func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, v view, err error) {
	status, _, msg := classify(err)
	if status >= 500 {
		logInfo(r.Context()).err = err
	}
	v.Title, v.Status, v.Error = http.StatusText(status), status, msg
	h.render(w, r, "message", v)
}

func (h *Handler) orderPage(w http.ResponseWriter, r *http.Request, v view) {
	h.showOrder(w, r, v, r.PathValue("id"))
}

func (h *Handler) showOrder(w http.ResponseWriter, r *http.Request, v view, id string) {
	o, err := h.cfg.Store.Get(r.Context(), id)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			err = fmt.Errorf("order %s: %w", id, domain.ErrNotFound)
		}
		h.pageError(w, r, v, err)
		return
	}
	v.Title, v.Order, v.Reasons, v.RefundEnabled = "Order "+o.ID, &o, stripeapi.RefundReasons, h.cfg.Refunder != nil
	if c := r.URL.Query().Get("ok"); flashes[c] != "" && v.Flash == "" {
		v.Flash = flashes[c]
	}
	h.render(w, r, "order", v)
}

func (h *Handler) orderAction(w http.ResponseWriter, r *http.Request, v view) {
	id, action := r.PathValue("id"), r.PathValue("action")
	ctx, actor := r.Context(), v.Me.ActorID
	var err error
	switch action {
	case "clear-review":
		_, err = h.operator.ClearReview(ctx, id, actor)
	case "mark-refunded":
		if r.PostForm.Get("confirm") != confirmYes {
			h.confirmPage(w, r, v, id, action, "")
			return
		}
		_, err = h.operator.MarkRefunded(ctx, id, actor)
	case "link-payment-intent":
		_, err = h.operator.LinkPaymentIntent(ctx, id, strings.TrimSpace(r.PostForm.Get("paymentIntentId")), actor, r.PostForm.Get("force") == "on")
	case "refund":
		reason := r.PostForm.Get("reason")
		if err = checkRefundReason(reason); err == nil && r.PostForm.Get("confirm") != confirmYes {
			h.confirmPage(w, r, v, id, action, reason)
			return
		}
		if err == nil {
			if h.cfg.Refunder == nil {
				err = errors.New("refunds from orderflow are not enabled in this build")
			} else {
				_, err = h.cfg.Refunder.Refund(ctx, id, actor, reason)
			}
		}
	default:
		v.Title, v.Status, v.Error = "Not found", http.StatusNotFound, "There is no order action "+action+"."
		h.render(w, r, "message", v)
		return
	}
	if err != nil {
		status, _, msg := classify(err)
		if status >= 500 || status == http.StatusNotFound {
			h.pageError(w, r, v, err)
			return
		}
		v.Status, v.Error = status, withForceHint(err, msg, consoleForceHint)
		h.showOrder(w, r, v, id)
		return
	}
	dest := baseOf(ctx) + ConsolePrefix + "/orders/" + url.PathEscape(id) + "?ok=" + action
	if r.PostForm.Get("back") == "queue" {
		dest = baseOf(ctx) + QueuePath + "?ok=" + action + "&order=" + url.QueryEscape(id)
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

// confirmYes is the confirm field of the confirm page's final button: only a
// post carrying it refunds or marks refunded.
const confirmYes = "yes"

// confirmGet shows the confirm page of a refund or mark-refunded reached by
// its URL (a reload, a bookmark); other actions are only posted.
func (h *Handler) confirmGet(w http.ResponseWriter, r *http.Request, v view) {
	id, action := r.PathValue("id"), r.PathValue("action")
	reason := r.URL.Query().Get("reason")
	switch action {
	case "refund":
		if err := checkRefundReason(reason); err != nil {
			v.Status, v.Error = http.StatusBadRequest, err.Error()
			h.showOrder(w, r, v, id)
			return
		}
	case "mark-refunded":
		reason = ""
	default:
		v.Title, v.Status, v.Error = "Not found", http.StatusNotFound, "There is no console page at "+baseOf(r.Context())+r.URL.Path+"."
		h.render(w, r, "message", v)
		return
	}
	h.confirmPage(w, r, v, id, action, reason)
}

// confirmPage asks the operator to confirm a refund in Stripe or marking an
// order refunded, showing what it will act on. A refund the use-case would
// refuse (already refunding, not paid) is refused here already.
func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request, v view, id, action, reason string) {
	o, err := h.cfg.Store.Get(r.Context(), id)
	if err == nil && action == "refund" {
		if h.cfg.Refunder == nil {
			err = errors.New("refunds from orderflow are not enabled in this build")
		} else {
			err = domain.RefundGuard(o)
		}
	}
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			err = fmt.Errorf("order %s: %w", id, domain.ErrNotFound)
		}
		status, _, msg := classify(err)
		if status >= 500 || status == http.StatusNotFound {
			h.pageError(w, r, v, err)
			return
		}
		v.Status, v.Error = status, msg
		h.showOrder(w, r, v, id)
		return
	}
	v.Order, v.Confirm, v.Reason = &o, action, reason
	v.Title = "Confirm: mark " + o.ID + " refunded"
	if action == "refund" {
		v.Title = "Confirm: refund " + o.ID + " in Stripe"
	}
	h.render(w, r, "confirm", v)
}

// searchLimit bounds each of the lookups of one search.
const searchLimit = 50

func (h *Handler) searchPage(w http.ResponseWriter, r *http.Request, v view) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	v.Title, v.Nav, v.Query = "Search", "search", q
	if q == "" {
		h.render(w, r, "search", v)
		return
	}
	ctx := r.Context()
	seen := map[string]bool{}
	add := func(o domain.Order) {
		if !seen[o.ID] {
			seen[o.ID] = true
			v.Orders = append(v.Orders, o)
		}
	}
	if o, err := h.cfg.Store.Get(ctx, q); err == nil {
		add(o)
	} else if !errors.Is(err, domain.ErrNotFound) {
		h.pageError(w, r, v, err)
		return
	}
	filters := []domain.Filter{{UserID: q}, {SellerID: q}}
	if strings.HasPrefix(q, "pi_") {
		filters = []domain.Filter{{PaymentIntentID: q}}
	}
	for _, f := range filters {
		page, err := workers.ListOrders(ctx, h.cfg.Store, f, searchLimit, "")
		if err != nil {
			h.pageError(w, r, v, err)
			return
		}
		for _, o := range page.Orders {
			add(o)
		}
	}
	h.render(w, r, "search", v)
}

func (h *Handler) dlqPage(w http.ResponseWriter, r *http.Request, v view) {
	entries, err := workers.ListDLQ(r.Context(), h.cfg.DLQ, h.clock, 500)
	if err != nil {
		h.pageError(w, r, v, err)
		return
	}
	v.Title, v.Nav, v.DLQ = "Dead-letter queue", "dlq", entries
	q := r.URL.Query()
	if q.Has("moved") {
		n := func(k string) int { i, _ := strconv.Atoi(q.Get(k)); return i }
		v.Summary = &workers.RedriveSummary{Moved: n("moved"), Parked: n("parked"), Remaining: n("remaining")}
		v.DryRun = q.Get("dry") == "1"
		v.Type, v.Limit = q.Get("type"), q.Get("limit")
	}
	h.render(w, r, "dlq", v)
}

func (h *Handler) redrivePost(w http.ResponseWriter, r *http.Request, v view) {
	opts := workers.RedriveOptions{Type: strings.TrimSpace(r.PostForm.Get("type")), DryRun: r.PostForm.Get("mode") != "redrive"}
	if s := strings.TrimSpace(r.PostForm.Get("limit")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			h.pageError(w, r, v, fmt.Errorf("%w: limit %q: want a number, 0 for all", domain.ErrInvalid, s))
			return
		}
		opts.Limit = n
	}
	sum, err := h.redrive(r, opts)
	if err != nil {
		h.pageError(w, r, v, err)
		return
	}
	q := url.Values{}
	q.Set("moved", strconv.Itoa(sum.Moved))
	q.Set("parked", strconv.Itoa(sum.Parked))
	q.Set("remaining", strconv.Itoa(sum.Remaining))
	if opts.DryRun {
		q.Set("dry", "1")
		q.Set("type", opts.Type)
		if opts.Limit > 0 {
			q.Set("limit", strconv.Itoa(opts.Limit))
		}
	}
	http.Redirect(w, r, baseOf(r.Context())+ConsolePrefix+"/dlq?"+q.Encode(), http.StatusSeeOther)
}

func (h *Handler) replayPage(w http.ResponseWriter, r *http.Request, v view) {
	v.Title, v.Nav = "Replay an event", "replay"
	q := r.URL.Query()
	if q.Has("done") {
		v.Replay = &workers.ReplayResult{EventID: q.Get("evt"), EventType: q.Get("type"), Enqueued: q.Get("done") == "enqueued", Ignored: q.Get("done") == "ignored"}
	}
	h.render(w, r, "replay", v)
}

func (h *Handler) replayPost(w http.ResponseWriter, r *http.Request, v view) {
	id := strings.TrimSpace(r.PostForm.Get("eventId"))
	res, err := h.replay(r, id)
	if err != nil {
		status, _, msg := classify(err)
		if status >= 500 {
			logInfo(r.Context()).err = err
		}
		v.Title, v.Nav, v.Status, v.Error, v.EventID = "Replay an event", "replay", status, msg, id
		h.render(w, r, "replay", v)
		return
	}
	done := "enqueued"
	if res.Ignored {
		done = "ignored"
	}
	q := url.Values{"done": {done}, "evt": {res.EventID}, "type": {res.EventType}}
	http.Redirect(w, r, baseOf(r.Context())+ConsolePrefix+"/replay?"+q.Encode(), http.StatusSeeOther)
}

// hmacEqual compares two CSRF tokens in constant time.
func hmacEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
