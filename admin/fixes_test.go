package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/admin"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
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
