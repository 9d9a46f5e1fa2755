package admin_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
)

// oddIDs are order ids the store's checkout may send: a "/", "?", "#", "%",
// a space and non-ASCII must each stay one path segment.
var oddIDs = []string{"ORD 1001/Zoë", "ord#7", "ord?x=1", "ord%41", "a/b/c"}

func flagged(o *domain.Order) {
	o.Status, o.PaymentStatus, o.StripePaymentIntentID = domain.StatusCompleted, domain.PaymentPaid, "pi_x"
	o.RequiresReview, o.ReviewReason = true, domain.ReasonAmountMismatch
}

func TestAdminAPIOrderIDsNeedingEscapes(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	for _, id := range oddIDs {
		b.order(id, flagged)
		path := "/admin/v1/orders/" + url.PathEscape(id)
		for _, prefix := range []string{"", "/prod"} {
			r := b.do(http.MethodGet, prefix+path, b.viewer, "")
			var o domain.Order
			if r.status == http.StatusOK {
				r.json(t, &o)
			}
			if r.status != http.StatusOK || o.ID != id {
				t.Errorf("GET %s%s = %d %s, want the order %q", prefix, path, r.status, r.body, id)
			}
		}
		if r := b.do(http.MethodPost, path+"/clear-review", b.operator, ""); r.status != http.StatusOK {
			t.Errorf("POST %s/clear-review = %d %s", path, r.status, r.body)
		}
		if o, _ := b.be.Store.Get(context.Background(), id); o.RequiresReview {
			t.Errorf("order %q still flagged after clear-review", id)
		}
	}
	// An id that only unescapes to an existing one's prefix is not it.
	if r := b.do(http.MethodGet, "/admin/v1/orders/ORD%201001", b.viewer, ""); r.status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Errorf("GET a prefix of an id = %d %s", r.status, r.body)
	}
}

func TestConsoleOrderIDsNeedingEscapes(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	for _, id := range oddIDs {
		b.order(id, flagged)
	}
	br := newBrowser(b)
	queue := br.signIn(b.operator)
	for _, id := range oddIDs {
		href := "/console/orders/" + url.PathEscape(id)
		if !strings.Contains(queue, `href="`+html.EscapeString(href)+`"`) {
			t.Errorf("queue has no escaped link %s for %q", href, id)
		}
		if !strings.Contains(queue, `action="`+html.EscapeString(href+"/clear-review")+`"`) {
			t.Errorf("queue has no escaped clear-review form for %q", id)
		}
		status, page, _ := br.get(href)
		if status != http.StatusOK || !strings.Contains(page, html.EscapeString(id)) {
			t.Errorf("GET %s = %d", href, status)
			continue
		}
		for _, action := range []string{"clear-review", "mark-refunded", "link-payment-intent"} {
			if !strings.Contains(page, `action="`+html.EscapeString(href+"/"+action)+`"`) {
				t.Errorf("order page of %q has no escaped %s form", id, action)
			}
		}
		status, _, hdr := br.post(href+"/clear-review", url.Values{"csrf": {csrfOf(t, page)}})
		if status != http.StatusSeeOther || hdr.Get("Location") != href+"?ok=clear-review" {
			t.Errorf("POST %s/clear-review = %d to %q", href, status, hdr.Get("Location"))
		}
		if o, _ := b.be.Store.Get(context.Background(), id); o.RequiresReview {
			t.Errorf("order %q still flagged after the console's clear-review", id)
		}
	}
	// A signed-out visit keeps the escaped id for after sign-in.
	br2 := newBrowser(b)
	href := "/console/orders/" + url.PathEscape(oddIDs[0])
	if status, _, hdr := br2.get(href); status != http.StatusSeeOther || hdr.Get("Location") != "/console/signin?next="+url.QueryEscape(href) {
		t.Errorf("signed-out %s = %d to %q", href, status, hdr.Get("Location"))
	}
}
