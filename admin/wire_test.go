package admin_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orderflow/orderflow/admin"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/logging"
)

// TestAdminWiredUseCases builds the handler as serve and the AdminFunction do
// (NewFromBackend) and checks the refund (SPEC §14, against stripe-mock) and
// access (§13) endpoints run the real use-cases, on both backends.
func TestAdminWiredUseCases(t *testing.T) {
	stripeMock := emulator.StripeMock(t)
	for _, be := range emulator.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			opTok, opSum, _ := admin.NewToken()
			svcTok, svcSum, _ := admin.NewToken()
			env := be.Env(t)
			env["ORDERFLOW_ADMIN_TOKENS"] = fmt.Sprintf("adm_7:operator:%s,svc_products:service:%s", opSum, svcSum)
			env["STRIPE_API_BASE"] = stripeMock
			env["STRIPE_SECRET_KEY"] = stripeKey
			b := &bundle{t: t, env: env, logs: &syncBuffer{}, operator: opTok, service: svcTok}
			b.be = emulator.OpenBackend(ctx, t, env)
			t.Cleanup(b.assertNoSecretsLogged)
			cfg, err := config.LoadLambda(func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			log, _ := logging.New(b.logs, "debug", "json")
			serve := func(cfg config.Config) *httptest.Server {
				h, err := admin.NewFromBackend(ctx, cfg, b.be, admin.Config{Logger: log})
				if err != nil {
					t.Fatal(err)
				}
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				return srv
			}
			b.srv = serve(cfg)

			paid := func(o *domain.Order) {
				o.UserID, o.ProductID = "usr_r", "prd_"+o.ID
				o.Status, o.PaymentStatus, o.StripePaymentIntentID = domain.StatusCompleted, domain.PaymentPaid, "pi_r"
			}
			b.order("ord_r", paid)
			b.order("ord_f", func(o *domain.Order) { paid(o); o.RequiresReview, o.ReviewReason = true, domain.ReasonUserMismatch })
			b.order("ord_p", func(o *domain.Order) { o.UserID, o.ProductID = "usr_r", "prd_ord_p" })

			r := b.do("POST", "/admin/v1/orders/ord_r/refund", b.operator, `{"reason":"requested_by_customer","actorId":"adm_evil"}`)
			var o domain.Order
			r.json(t, &o)
			last := o.Timeline[len(o.Timeline)-1]
			if r.status != 200 || last.Type != domain.EntryRefundRequested || last.ActorID != "adm_7" {
				t.Fatalf("refund: %d, last entry %+v", r.status, last)
			}
			for _, c := range []struct {
				path   string
				status int
				code   string
			}{
				{"/admin/v1/orders/ord_r/refund", 409, "already_refunding"},
				{"/admin/v1/orders/ord_p/refund", 409, "not_paid"},
				{"/admin/v1/orders/ord_none/refund", 404, "not_found"},
			} {
				if r := b.do("POST", c.path, b.operator, ""); r.status != c.status || r.errorCode() != c.code {
					t.Errorf("POST %s = %d %s, want %d %s", c.path, r.status, r.body, c.status, c.code)
				}
			}

			for _, c := range []struct {
				product string
				status  int
				want    admin.AccessDecision
			}{
				{"prd_ord_r", 200, admin.AccessDecision{Allowed: true, OrderID: "ord_r"}},
				{"prd_ord_f", 423, admin.AccessDecision{Reason: admin.ReasonRequiresReview, OrderIDs: []string{"ord_f"}}},
				{"prd_ord_p", 403, admin.AccessDecision{Reason: admin.ReasonNoOrder}},
			} {
				r := b.do("GET", "/v1/access?userId=usr_r&productId="+c.product, b.service, "")
				var d admin.AccessDecision
				r.json(t, &d)
				if r.status != c.status || d.Allowed != c.want.Allowed || d.Reason != c.want.Reason || d.OrderID != c.want.OrderID || fmt.Sprint(d.OrderIDs) != fmt.Sprint(c.want.OrderIDs) {
					t.Errorf("access to %s = %d %s, want %d %+v", c.product, r.status, r.body, c.status, c.want)
				}
			}

			// The kill switch answers 403 downloads_disabled whatever the orders.
			cfg.DownloadsDisabled = true
			b.srv = serve(cfg)
			r = b.do("GET", "/v1/access?userId=usr_r&productId=prd_ord_r", b.service, "")
			var d admin.AccessDecision
			r.json(t, &d)
			if r.status != 403 || d.Allowed || d.Reason != admin.ReasonDownloadsDisabled {
				t.Errorf("kill switch: %d %s, want 403 downloads_disabled", r.status, r.body)
			}
		})
	}
}
