package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/admin"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/workers"
)

func paidOrder(o *domain.Order) {
	o.Status, o.PaymentStatus, o.StripePaymentIntentID = domain.StatusCompleted, domain.PaymentPaid, "pi_"+o.ID
}

// TestAlreadyLinkedSaysHowToForce: the 409 already_linked names the API's
// "force" field in the API and the console's checkbox in the console, never
// the CLI's --force.
func TestAlreadyLinkedSaysHowToForce(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	b.order("ord_linked", paidOrder)
	r := b.do(http.MethodPost, "/admin/v1/orders/ord_linked/link-payment-intent", b.operator, `{"paymentIntentId":"pi_other"}`)
	var e struct {
		Error struct{ Code, Message string }
	}
	r.json(t, &e)
	if r.status != http.StatusConflict || e.Error.Code != "already_linked" ||
		!strings.Contains(e.Error.Message, `"force": true`) || strings.Contains(e.Error.Message, "--force") {
		t.Errorf("API link another intent = %d %+v", r.status, e.Error)
	}
	br := newBrowser(b)
	queue := br.signIn(b.operator)
	status, page, _ := br.post("/console/orders/ord_linked/link-payment-intent", url.Values{"csrf": {csrfOf(t, queue)}, "paymentIntentId": {"pi_other"}})
	if status != http.StatusConflict || !strings.Contains(page, "tick &#34;replace the one it has&#34;") || strings.Contains(page, "--force") {
		t.Errorf("console link another intent = %d:\n%s", status, page)
	}
}

// TestV1PathsAnswerInTheAPIShape: paths under /v1/ other than GET
// /v1/access answer {"error":{"code","message"}}: 405 with Allow: GET for
// another method on /v1/access, else 404.
func TestV1PathsAnswerInTheAPIShape(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	for _, c := range []struct {
		method, path, token string
		status              int
		code, allow         string
	}{
		{"GET", "/v1/access/", "", 404, "not_found", ""},
		{"GET", "/v1/access/", b.service, 404, "not_found", ""},
		{"GET", "/v1/other", "", 404, "not_found", ""},
		{"GET", "/prod/v1/other", b.service, 404, "not_found", ""},
		{"POST", "/v1/access", "", 405, "method_not_allowed", "GET"},
		{"DELETE", "/v1/access", b.service, 405, "method_not_allowed", "GET"},
		{"POST", "/prod/v1/access", b.service, 405, "method_not_allowed", "GET"},
		{"GET", "/v1/access?userId=u&productId=prd_ok", b.service, 200, "", ""},
	} {
		r := b.do(c.method, c.path, c.token, "")
		if r.status != c.status || r.errorCode() != c.code || r.header.Get("Allow") != c.allow {
			t.Errorf("%s %s = %d %s (Allow %q), want %d %s", c.method, c.path, r.status, r.body, r.header.Get("Allow"), c.status, c.code)
		}
	}
	if !admin.Matches("/v1/other") || !admin.Matches("/prod/v1/access/") {
		t.Errorf("Matches does not claim paths under /v1/")
	}
}

// TestConsoleRefundPendingShowsABadge: while a refund_requested has no
// outcome yet, the order page shows "refund pending" instead of the refund
// button; after refund_failed the button is back.
func TestConsoleRefundPendingShowsABadge(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	// A failure counts for its own refund only (domain.RefundGuard).
	requested := domain.TimelineEntry{Type: domain.EntryRefundRequested, At: time.Now().Add(-time.Minute), Actor: "admin", ActorType: "admin", ActorID: operatorActor,
		Meta: map[string]any{"refundId": "re_1"}}
	failed := domain.TimelineEntry{Type: domain.EntryRefundFailed, At: time.Now(), Actor: "stripe", ActorType: "stripe",
		Meta: map[string]any{"refundId": "re_1"}}
	b.order("ord_asked", func(o *domain.Order) {
		paidOrder(o)
		o.Timeline = []domain.TimelineEntry{requested}
	})
	b.order("ord_failed", func(o *domain.Order) {
		paidOrder(o)
		o.Timeline = []domain.TimelineEntry{requested, failed}
	})
	b.order("ord_paid", paidOrder)
	br := newBrowser(b)
	br.signIn(b.operator)
	for id, pending := range map[string]bool{"ord_asked": true, "ord_failed": false, "ord_paid": false} {
		status, page, _ := br.get("/console/orders/" + id)
		if status != http.StatusOK {
			t.Fatalf("order page %s = %d", id, status)
		}
		if got := strings.Contains(page, "refund pending"); got != pending {
			t.Errorf("%s: refund pending badge shown %v, want %v", id, got, pending)
		}
		if got := strings.Contains(page, "Request full refund"); got == pending {
			t.Errorf("%s: refund button shown %v, want %v", id, got, !pending)
		}
	}
}

// TestConsoleRefundAsksForConfirmation: "Request full refund" and "Mark
// refunded" lead to a confirm page showing the order, amount, payment intent
// and reason; only its CSRF-protected final button acts.
func TestConsoleRefundAsksForConfirmation(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	b.order("ord_paid", paidOrder)
	b.order("ord_mark", paidOrder)
	br := newBrowser(b)
	br.signIn(b.operator)
	_, page, _ := br.get("/console/orders/ord_paid")
	csrf := csrfOf(t, page)

	status, confirm, _ := br.post("/console/orders/ord_paid/refund", url.Values{"csrf": {csrf}, "reason": {"duplicate"}})
	for _, want := range []string{"ord_paid", "20.00 USD", "pi_ord_paid", "duplicate", ">Refund in Stripe</button>", `name="confirm" value="yes"`, `action="/console/orders/ord_paid/refund"`} {
		if !strings.Contains(confirm, want) {
			t.Errorf("refund confirm page (%d) lacks %q:\n%s", status, want, confirm)
		}
	}
	if status != http.StatusOK || len(b.refunds.requests) != 0 {
		t.Fatalf("request full refund = %d with %d refunds, want the confirm page and none", status, len(b.refunds.requests))
	}
	// Reached by its URL too; a viewer may not.
	if status, page, _ := br.get("/console/orders/ord_paid/refund?reason=fraudulent"); status != http.StatusOK || !strings.Contains(page, "fraudulent") || !strings.Contains(page, "Refund in Stripe") {
		t.Errorf("GET the refund confirm page = %d", status)
	}
	viewer := newBrowser(b)
	viewer.signIn(b.viewer)
	if status, _, _ := viewer.get("/console/orders/ord_paid/refund"); status != http.StatusForbidden {
		t.Errorf("viewer GET the refund confirm page = %d, want 403", status)
	}
	// The final button without the session's CSRF token is refused.
	if status, _, _ := br.post("/console/orders/ord_paid/refund", url.Values{"confirm": {"yes"}, "reason": {"duplicate"}}); status != http.StatusForbidden || len(b.refunds.requests) != 0 {
		t.Errorf("confirm without CSRF = %d, %d refunds", status, len(b.refunds.requests))
	}
	status, _, hdr := br.post("/console/orders/ord_paid/refund", url.Values{"csrf": {csrfOf(t, confirm)}, "confirm": {"yes"}, "reason": {"duplicate"}})
	if status != http.StatusSeeOther || hdr.Get("Location") != "/console/orders/ord_paid?ok=refund" {
		t.Errorf("Refund in Stripe = %d to %q", status, hdr.Get("Location"))
	}
	if len(b.refunds.requests) != 1 || b.refunds.requests[0] != "ord_paid|"+operatorActor+"|duplicate" {
		t.Errorf("refunds requested: %v", b.refunds.requests)
	}

	// Mark refunded asks too.
	status, confirm, _ = br.post("/console/orders/ord_mark/mark-refunded", url.Values{"csrf": {csrf}})
	if status != http.StatusOK || !strings.Contains(confirm, ">Mark refunded</button>") || !strings.Contains(confirm, "pi_ord_mark") {
		t.Errorf("mark refunded = %d, want its confirm page:\n%s", status, confirm)
	}
	if o, _ := b.be.Store.Get(context.Background(), "ord_mark"); o.Status == domain.StatusRefunded {
		t.Fatalf("mark refunded acted before the confirmation")
	}
	if status, _, _ := br.post("/console/orders/ord_mark/mark-refunded", url.Values{"csrf": {csrf}, "confirm": {"yes"}}); status != http.StatusSeeOther {
		t.Errorf("confirm mark refunded = %d", status)
	}
	if o, _ := b.be.Store.Get(context.Background(), "ord_mark"); o.Status != domain.StatusRefunded {
		t.Errorf("confirmed mark refunded left the order %s", o.Status)
	}
}

// TestConsoleSignOutEndsTheSession: after sign-out, a copy of the old
// session cookie no longer opens any page, nor posts a form.
func TestConsoleSignOutEndsTheSession(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	b.order("ord_flag", flagged)
	br := newBrowser(b)
	queue := br.signIn(b.operator)
	u, _ := url.Parse(b.srv.URL + "/console/")
	var old *http.Cookie
	for _, c := range br.client.Jar.Cookies(u) {
		if c.Name == "orderflow_session" {
			old = c
		}
	}
	if old == nil {
		t.Fatal("no session cookie after sign in")
	}
	withOld := func(method, path string, form url.Values) int {
		t.Helper()
		req, _ := http.NewRequest(method, b.srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: old.Name, Value: old.Value})
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := withOld("GET", "/console/queue", nil); status != http.StatusOK {
		t.Fatalf("the session cookie before sign-out = %d", status)
	}
	if status, _, _ := br.post("/console/signout", url.Values{"csrf": {csrfOf(t, queue)}}); status != http.StatusSeeOther {
		t.Fatalf("sign out = %d", status)
	}
	if status := withOld("GET", "/console/queue", nil); status != http.StatusSeeOther {
		t.Errorf("the old session cookie after sign-out = %d, want a redirect to sign in", status)
	}
	if status := withOld("POST", "/console/orders/ord_flag/clear-review", url.Values{"csrf": {csrfOf(t, queue)}}); status != http.StatusSeeOther {
		t.Errorf("a post with the old session cookie after sign-out = %d, want a redirect to sign in", status)
	}
	if o, _ := b.be.Store.Get(context.Background(), "ord_flag"); !o.RequiresReview {
		t.Errorf("a signed-out session cleared a review")
	}
	// Signing in again opens a new session.
	if queue := br.signIn(b.operator); !strings.Contains(queue, "ord_flag") {
		t.Errorf("sign in after sign-out: no queue")
	}
}

// TestRefundWithoutAStripeKeySaysWhatToSet: a deployment without a Stripe
// secret key answers a refund with 503 not_configured naming the settings,
// not "retry later" (a retry cannot help), and changes nothing.
func TestRefundWithoutAStripeKeySaysWhatToSet(t *testing.T) {
	t.Parallel()
	var store domain.Store
	b := setup(t, emulator.SQLiteEnv(t), nil, func(c *admin.Config) {
		store = c.Store
		c.Refunder = workers.RefundRequester{Store: c.Store} // no Stripe client
	})
	b.order("ord_paid", paidOrder)
	r := b.do(http.MethodPost, "/admin/v1/orders/ord_paid/refund", b.operator, "")
	var e struct {
		Error struct{ Code, Message string }
	}
	r.json(t, &e)
	if r.status != http.StatusServiceUnavailable || e.Error.Code != "not_configured" || !strings.Contains(e.Error.Message, "STRIPE_SECRET_ARN") {
		t.Fatalf("refund without a Stripe key = %d %+v, want 503 not_configured naming STRIPE_SECRET_ARN", r.status, e.Error)
	}
	o, err := store.Get(context.Background(), "ord_paid")
	if err != nil || len(o.Timeline) != 0 {
		t.Fatalf("order after the refused refund: %v entries, %v; want unchanged", len(o.Timeline), err)
	}
}

// TestAPIBodiesAreStrict: a body with data after its JSON value, or a key in
// another case than the API's ("Force"), is refused with 400 and changes
// nothing; an unknown key such as "actorId" is ignored (the actor is always
// the token's).
func TestAPIBodiesAreStrict(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	b.order("ord_linked", paidOrder)
	for _, body := range []string{
		`{"paymentIntentId":"pi_new","force":true} {"force":false}`,
		`{"paymentIntentId":"pi_new","Force":true}`,
		`{"paymentIntentId":"pi_new","force":true,"force":false}`,
	} {
		r := b.do(http.MethodPost, "/admin/v1/orders/ord_linked/link-payment-intent", b.operator, body)
		var e struct {
			Error struct{ Code, Message string }
		}
		r.json(t, &e)
		if r.status != http.StatusBadRequest || e.Error.Code != "bad_request" {
			t.Errorf("body %s: %d %+v, want 400 bad_request", body, r.status, e.Error)
		}
	}
	r := b.do(http.MethodPost, "/admin/v1/orders/ord_linked/link-payment-intent", b.operator, `{"paymentIntentId":"pi_new","force":true,"actorId":"someone_else"}`)
	if r.status != http.StatusOK {
		t.Fatalf("link with an ignored actorId: %d %s", r.status, r.body)
	}
	var o domain.Order
	r.json(t, &o)
	if last := o.Timeline[len(o.Timeline)-1]; o.StripePaymentIntentID != "pi_new" || last.ActorID != operatorActor {
		t.Fatalf("linked to %s by %q, want pi_new by the token's actor %s", o.StripePaymentIntentID, last.ActorID, operatorActor)
	}
}
