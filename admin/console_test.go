package admin_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
)

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so each test sees every step.
type browser struct {
	t      *testing.T
	b      *bundle
	client *http.Client
}

func newBrowser(b *bundle) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: b.t, b: b, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (br *browser) get(path string) (int, string, http.Header) {
	br.t.Helper()
	resp, err := br.client.Get(br.b.srv.URL + path)
	if err != nil {
		br.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (br *browser) post(path string, form url.Values) (int, string, http.Header) {
	br.t.Helper()
	resp, err := br.client.PostForm(br.b.srv.URL+path, form)
	if err != nil {
		br.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[1]
}

// signIn signs in with token and returns the review queue page.
func (br *browser) signIn(token string) string {
	br.t.Helper()
	_, page, _ := br.get("/console/signin")
	status, _, hdr := br.post("/console/signin", url.Values{"csrf": {csrfOf(br.t, page)}, "token": {token}})
	if status != http.StatusSeeOther || hdr.Get("Location") != "/console/queue" {
		br.t.Fatalf("sign in = %d to %q", status, hdr.Get("Location"))
	}
	_, queue, _ := br.get("/console/")
	return queue
}

func TestConsoleSessionsAndCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	b.order("ord_flag", func(o *domain.Order) {
		o.Status, o.PaymentStatus, o.RequiresReview, o.ReviewReason = domain.StatusCompleted, domain.PaymentPaid, true, domain.ReasonUserMismatch
	})
	br := newBrowser(b)

	// Signed out: every page sends to sign-in, keeping where it was going.
	status, _, hdr := br.get("/console/orders/ord_flag")
	if status != http.StatusSeeOther || hdr.Get("Location") != "/console/signin?next=%2Fconsole%2Forders%2Ford_flag" {
		t.Fatalf("signed-out order page = %d to %q", status, hdr.Get("Location"))
	}
	// A sign-in post without the form's CSRF token is refused.
	_, page, _ := br.get("/console/signin")
	if status, body, _ := br.post("/console/signin", url.Values{"token": {b.operator}}); status != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("sign in without CSRF = %d", status)
	}
	if status, _, _ := br.post("/console/signin", url.Values{"csrf": {csrfOf(t, page)}, "token": {"ofadm_wrong"}}); status != http.StatusUnauthorized {
		t.Errorf("sign in with a wrong token = %d, want 401", status)
	}
	// Service tokens cannot sign in.
	_, page, _ = br.get("/console/signin")
	if status, _, _ := br.post("/console/signin", url.Values{"csrf": {csrfOf(t, page)}, "token": {b.service}}); status != http.StatusForbidden {
		t.Errorf("sign in with a service token = %d, want 403", status)
	}

	queue := br.signIn(b.operator)
	if !strings.Contains(queue, "ord_flag") || !strings.Contains(queue, "user_mismatch") {
		t.Fatalf("review queue does not list the flagged order:\n%s", queue)
	}
	// The session cookie is HttpOnly, SameSite=Strict and scoped to the console.
	resp, _ := http.Get(b.srv.URL + "/console/signin")
	resp.Body.Close()
	u, _ := url.Parse(b.srv.URL + "/console/")
	var found bool
	for _, c := range br.client.Jar.Cookies(u) {
		found = found || c.Name == "orderflow_session"
	}
	if !found {
		t.Errorf("no session cookie after sign in")
	}

	// An action without the session's CSRF token is refused and changes nothing.
	if status, body, _ := br.post("/console/orders/ord_flag/clear-review", url.Values{}); status != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("clear without CSRF = %d", status)
	}
	if status, _, _ := br.post("/console/orders/ord_flag/clear-review", url.Values{"csrf": {"forged"}}); status != http.StatusForbidden {
		t.Errorf("clear with a forged CSRF = %d", status)
	}
	if o, _ := b.be.Store.Get(context.Background(), "ord_flag"); !o.RequiresReview {
		t.Fatalf("a refused form cleared the review")
	}
	status, _, hdr = br.post("/console/orders/ord_flag/clear-review", url.Values{"csrf": {csrfOf(t, queue)}, "back": {"queue"}})
	if status != http.StatusSeeOther {
		t.Fatalf("clear review = %d", status)
	}
	o, _ := b.be.Store.Get(context.Background(), "ord_flag")
	last := o.Timeline[len(o.Timeline)-1]
	if o.RequiresReview || last.Type != domain.EntryReviewCleared || last.ActorID != operatorActor {
		t.Errorf("after clear: flagged %v, last entry %+v", o.RequiresReview, last)
	}
	// A second clear is a 409 shown on the order page.
	if status, body, _ := br.post("/console/orders/ord_flag/clear-review", url.Values{"csrf": {csrfOf(t, queue)}}); status != http.StatusConflict || !strings.Contains(body, "not flagged") {
		t.Errorf("second clear = %d", status)
	}
	// Sign out ends the session.
	if status, _, _ := br.post("/console/signout", url.Values{"csrf": {csrfOf(t, queue)}}); status != http.StatusSeeOther {
		t.Errorf("sign out = %d", status)
	}
	if status, _, _ := br.get("/console/"); status != http.StatusSeeOther {
		t.Errorf("queue after sign out = %d, want a redirect to sign in", status)
	}
}

func TestConsoleViewerCannotAct(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	b.order("ord_flag", func(o *domain.Order) { o.RequiresReview, o.ReviewReason = true, domain.ReasonAmountMismatch })
	br := newBrowser(b)
	queue := br.signIn(b.viewer)
	if strings.Contains(queue, "Clear review") {
		t.Errorf("a viewer's queue offers Clear review")
	}
	if status, _, _ := br.post("/console/orders/ord_flag/clear-review", url.Values{"csrf": {csrfOf(t, queue)}}); status != http.StatusForbidden {
		t.Errorf("viewer clear = %d, want 403", status)
	}
	for _, p := range []string{"/console/orders/ord_flag", "/console/search?q=usr_ord_flag", "/console/dlq", "/console/replay", "/console/static/style.css"} {
		if status, body, _ := br.get(p); status != 200 || len(body) == 0 {
			t.Errorf("GET %s = %d", p, status)
		}
	}
	if status, _, _ := br.get("/console/orders/ord_none"); status != 404 {
		t.Errorf("unknown order page = %d, want 404", status)
	}
}
