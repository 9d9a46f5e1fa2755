package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

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
