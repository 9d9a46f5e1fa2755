package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/admin"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/workers"
)

// seedOrders writes the orders the API table works on.
func seedOrders(b *bundle) {
	paid := func(o *domain.Order) {
		o.Status, o.PaymentStatus, o.StripePaymentIntentID = domain.StatusCompleted, domain.PaymentPaid, "pi_"+o.ID
	}
	b.order("ord_paid", paid)
	b.order("ord_paid2", paid)
	b.order("ord_linked", paid)
	b.order("ord_pending", nil)
	b.order("ord_refunding", paid)
	b.order("ord_flag", func(o *domain.Order) {
		paid(o)
		o.RequiresReview, o.ReviewReason = true, domain.ReasonAmountMismatch
	})
	b.order("ord_refunded", func(o *domain.Order) {
		o.Status, o.PaymentStatus = domain.StatusRefunded, domain.PaymentRefunded
	})
}

func TestAdminAPI(t *testing.T) {
	for _, be := range emulator.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			succeeded := fixture(t, "payment_intent.succeeded.json", be.Name)
			b := setup(t, be.Env(t), []emulator.StripeEvent{{Raw: succeeded}})
			seedOrders(b)
			evt := "evt_" + be.Name + "_pi_succeeded"

			tests := []struct {
				name         string
				method, path string
				token        string
				body         string
				status       int
				code         string // error.code, for errors
			}{
				// 401: no token, an unknown one, on every kind of route.
				{"no token", "GET", "/admin/v1/orders/ord_paid", "", "", 401, "unauthorized"},
				{"unknown token", "GET", "/admin/v1/orders/ord_paid", "ofadm_not-a-token", "", 401, "unauthorized"},
				{"no token on an action", "POST", "/admin/v1/orders/ord_flag/clear-review", "", "", 401, "unauthorized"},
				{"no token on access", "GET", "/v1/access?userId=u&productId=prd_ok", "", "", 401, "unauthorized"},
				{"no token on an unknown path", "GET", "/admin/v1/secret-things", "", "", 401, "unauthorized"},

				// 403: each role outside its rights.
				{"viewer clears review", "POST", "/admin/v1/orders/ord_flag/clear-review", b.viewer, "", 403, "forbidden"},
				{"viewer marks refunded", "POST", "/admin/v1/orders/ord_paid/mark-refunded", b.viewer, "", 403, "forbidden"},
				{"viewer links", "POST", "/admin/v1/orders/ord_pending/link-payment-intent", b.viewer, `{"paymentIntentId":"pi_x"}`, 403, "forbidden"},
				{"viewer refunds", "POST", "/admin/v1/orders/ord_paid/refund", b.viewer, "", 403, "forbidden"},
				{"viewer redrives", "POST", "/admin/v1/dlq/redrive", b.viewer, `{"dryRun":true}`, 403, "forbidden"},
				{"viewer replays", "POST", "/admin/v1/events/" + evt + "/replay", b.viewer, "", 403, "forbidden"},
				{"viewer asks access", "GET", "/v1/access?userId=u&productId=prd_ok", b.viewer, "", 403, "forbidden"},
				{"operator asks access", "GET", "/v1/access?userId=u&productId=prd_ok", b.operator, "", 403, "forbidden"},
				{"service reads an order", "GET", "/admin/v1/orders/ord_paid", b.service, "", 403, "forbidden"},
				{"service lists orders", "GET", "/admin/v1/orders", b.service, "", 403, "forbidden"},
				{"service lists the DLQ", "GET", "/admin/v1/dlq", b.service, "", 403, "forbidden"},
				{"service clears review", "POST", "/admin/v1/orders/ord_flag/clear-review", b.service, "", 403, "forbidden"},

				// 404.
				{"unknown order", "GET", "/admin/v1/orders/ord_nope", b.viewer, "", 404, "not_found"},
				{"clear review of an unknown order", "POST", "/admin/v1/orders/ord_nope/clear-review", b.operator, "", 404, "not_found"},
				{"mark refunded of an unknown order", "POST", "/admin/v1/orders/ord_nope/mark-refunded", b.operator, "", 404, "not_found"},
				{"link an unknown order", "POST", "/admin/v1/orders/ord_nope/link-payment-intent", b.operator, `{"paymentIntentId":"pi_x"}`, 404, "not_found"},
				{"refund an unknown order", "POST", "/admin/v1/orders/ord_missing/refund", b.operator, "", 404, "not_found"},
				{"replay an event Stripe does not know", "POST", "/admin/v1/events/evt_unknown/replay", b.operator, "", 404, "not_found"},
				{"unknown route", "GET", "/admin/v1/secret-things", b.operator, "", 404, "not_found"},

				// 400.
				{"bad status filter", "GET", "/admin/v1/orders?status=weird", b.viewer, "", 400, "bad_request"},
				{"zero limit", "GET", "/admin/v1/orders?limit=0", b.viewer, "", 400, "bad_request"},
				{"limit too large", "GET", "/admin/v1/orders?limit=100000", b.viewer, "", 400, "bad_request"},
				{"bad cursor", "GET", "/admin/v1/orders?cursor=nonsense", b.viewer, "", 400, "bad_request"},
				{"bad requiresReview", "GET", "/admin/v1/orders?requiresReview=maybe", b.viewer, "", 400, "bad_request"},
				{"bad DLQ limit", "GET", "/admin/v1/dlq?limit=x", b.viewer, "", 400, "bad_request"},
				{"malformed body", "POST", "/admin/v1/orders/ord_flag/clear-review", b.operator, "{", 400, "bad_request"},
				{"not a payment intent", "POST", "/admin/v1/orders/ord_pending/link-payment-intent", b.operator, `{"paymentIntentId":"ch_1"}`, 400, "bad_request"},
				{"no payment intent", "POST", "/admin/v1/orders/ord_pending/link-payment-intent", b.operator, `{}`, 400, "bad_request"},
				{"bad refund reason", "POST", "/admin/v1/orders/ord_paid/refund", b.operator, `{"reason":"because"}`, 400, "bad_request"},
				{"negative redrive limit", "POST", "/admin/v1/dlq/redrive", b.operator, `{"limit":-1}`, 400, "bad_request"},
				{"not an event id", "POST", "/admin/v1/events/ord_1/replay", b.operator, "", 400, "bad_request"},
				{"access without productId", "GET", "/v1/access?userId=u", b.service, "", 400, "bad_request"},

				// 409.
				{"clear review of an unflagged order", "POST", "/admin/v1/orders/ord_paid/clear-review", b.operator, "", 409, "not_flagged"},
				{"mark refunded twice", "POST", "/admin/v1/orders/ord_refunded/mark-refunded", b.operator, "", 409, "already_refunded"},
				{"link another intent", "POST", "/admin/v1/orders/ord_linked/link-payment-intent", b.operator, `{"paymentIntentId":"pi_other"}`, 409, "already_linked"},
				{"refund a pending order", "POST", "/admin/v1/orders/ord_pending/refund", b.operator, "", 409, "not_paid"},
				{"refund while refunding", "POST", "/admin/v1/orders/ord_refunding/refund", b.operator, "", 409, "already_refunding"},

				// Successes.
				{"viewer reads an order", "GET", "/admin/v1/orders/ord_paid", b.viewer, "", 200, ""},
				{"operator reads an order", "GET", "/admin/v1/orders/ord_paid", b.operator, "", 200, ""},
				{"viewer lists by status", "GET", "/admin/v1/orders?status=completed&requiresReview=true", b.viewer, "", 200, ""},
				{"link the same intent again", "POST", "/admin/v1/orders/ord_linked/link-payment-intent", b.operator, `{"paymentIntentId":"pi_ord_linked"}`, 200, ""},
				{"force another intent", "POST", "/admin/v1/orders/ord_linked/link-payment-intent", b.operator, `{"paymentIntentId":"pi_other","force":true}`, 200, ""},
				{"access allowed", "GET", "/v1/access?userId=u&productId=prd_ok", b.service, "", 200, ""},
				{"access under review", "GET", "/v1/access?userId=u&productId=prd_review", b.service, "", 423, ""},
				{"access without an order", "GET", "/v1/access?userId=u&productId=prd_none", b.service, "", 403, ""},
				{"access check fails", "GET", "/v1/access?userId=u&productId=prd_down", b.service, "", 503, "unavailable"},
				{"replay", "POST", "/admin/v1/events/" + evt + "/replay", b.operator, "", 200, ""},
			}
			for _, tt := range tests {
				r := b.do(tt.method, tt.path, tt.token, tt.body)
				if r.status != tt.status {
					t.Errorf("%s: %s %s = %d %s, want %d", tt.name, tt.method, tt.path, r.status, r.body, tt.status)
					continue
				}
				if tt.code != "" && r.errorCode() != tt.code {
					t.Errorf("%s: error code %q (%s), want %q", tt.name, r.errorCode(), r.body, tt.code)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("%s: Content-Type %q, want application/json", tt.name, ct)
				}
			}
			if r := b.do("GET", "/admin/v1/orders/ord_paid", "", ""); r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			var access admin.AccessDecision
			b.do("GET", "/v1/access?userId=u&productId=prd_review", b.service, "").json(t, &access)
			if access.Allowed || access.Reason != "requires_review" || !slices.Equal(access.OrderIDs, []string{"ord_2"}) {
				t.Errorf("access under review = %+v", access)
			}
		})
	}
}

// TestAdminActionsRecordTheTokensActor checks that the actor of every
// operator entry is the token's actorId, whatever the body claims.
func TestAdminActionsRecordTheTokensActor(t *testing.T) {
	for _, be := range emulator.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := setup(t, be.Env(t), nil)
			seedOrders(b)
			lie := `{"actor":"adm_evil","actorId":"adm_evil","actorType":"system","reason":"duplicate","paymentIntentId":"pi_new"}`
			for _, a := range []struct{ order, action, entry string }{
				{"ord_flag", "clear-review", domain.EntryReviewCleared},
				{"ord_paid2", "mark-refunded", domain.EntryRefundFull},
				{"ord_pending", "link-payment-intent", domain.EntryPaymentIntentLinked},
			} {
				r := b.do("POST", "/admin/v1/orders/"+a.order+"/"+a.action, b.operator, lie)
				if r.status != 200 {
					t.Fatalf("%s %s: %d %s", a.action, a.order, r.status, r.body)
				}
				var o domain.Order
				r.json(t, &o)
				stored, err := b.be.Store.Get(context.Background(), a.order)
				if err != nil {
					t.Fatal(err)
				}
				for _, got := range []domain.Order{o, stored} {
					last := got.Timeline[len(got.Timeline)-1]
					if last.Type != a.entry || last.Actor != "admin" || last.ActorType != "user" || last.ActorID != operatorActor {
						t.Errorf("%s: last entry %+v, want %s by admin/user/%s", a.action, last, a.entry, operatorActor)
					}
				}
			}
			if o, _ := b.be.Store.Get(context.Background(), "ord_flag"); o.RequiresReview {
				t.Errorf("ord_flag is still flagged after clear-review")
			}
			if r := b.do("POST", "/admin/v1/orders/ord_paid/refund", b.operator, lie); r.status != 200 {
				t.Fatalf("refund: %d %s", r.status, r.body)
			}
			if got := b.refunds.requests; len(got) != 1 || got[0] != "ord_paid|"+operatorActor+"|duplicate" {
				t.Errorf("refund use-case got %v, want ord_paid by %s", got, operatorActor)
			}
			// Every request is logged with actorId, method, path and status.
			lines := strings.Split(strings.TrimSpace(b.logs.String()), "\n")
			var found bool
			for _, l := range lines {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "admin request" && m["actorId"] == operatorActor &&
					m["method"] == "POST" && m["path"] == "/admin/v1/orders/ord_flag/clear-review" && m["status"] == float64(200) {
					found = true
				}
			}
			if !found {
				t.Errorf("no request log line with actorId, method, path and status:\n%s", b.logs.String())
			}
		})
	}
}

func TestAdminListOrdersPaginates(t *testing.T) {
	for _, be := range emulator.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := setup(t, be.Env(t), nil)
			var want []string
			for _, id := range []string{"ord_p5", "ord_p1", "ord_p7", "ord_p3", "ord_p2", "ord_p6", "ord_p4"} {
				b.order(id, func(o *domain.Order) { o.SellerID = "sel_page" })
				want = append(want, id)
			}
			b.order("ord_other_seller", nil)
			slices.Sort(want)
			var got []string
			cursor, pages := "", 0
			for {
				path := "/admin/v1/orders?seller=sel_page&limit=3"
				if cursor != "" {
					path += "&cursor=" + cursor
				}
				r := b.do("GET", path, b.viewer, "")
				if r.status != 200 {
					t.Fatalf("page %d: %d %s", pages, r.status, r.body)
				}
				var page workers.OrderPage
				r.json(t, &page)
				pages++
				for _, o := range page.Orders {
					got = append(got, o.ID)
				}
				if page.Next == "" {
					break
				}
				if pages > 5 {
					t.Fatal("pagination does not end")
				}
				cursor = page.Next
			}
			if pages != 3 || !slices.Equal(got, want) {
				t.Errorf("pages %d, orders %v; want 3 pages of %v", pages, got, want)
			}
			var empty workers.OrderPage
			b.do("GET", "/admin/v1/orders?seller=sel_nobody", b.viewer, "").json(t, &empty)
			if empty.Orders == nil || len(empty.Orders) != 0 || empty.Next != "" {
				t.Errorf("empty listing = %+v, want orders [] and no cursor", empty)
			}
		})
	}
}

func TestAdminDLQListAndRedrive(t *testing.T) {
	for _, be := range emulator.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := setup(t, be.Env(t), nil)
			b.deadLetter("evt_dead_1", domain.EventChargeRefunded, "pi_dead", "order not found for pi_dead")
			var list struct{ Messages []workers.DLQEntry }
			r := b.do("GET", "/admin/v1/dlq", b.viewer, "")
			r.json(t, &list)
			if r.status != 200 || len(list.Messages) != 1 || list.Messages[0].EventID != "evt_dead_1" || list.Messages[0].LastError != "order not found for pi_dead" {
				t.Fatalf("dlq list = %d %s", r.status, r.body)
			}
			var sum workers.RedriveSummary
			b.do("POST", "/admin/v1/dlq/redrive", b.operator, `{"dryRun":true}`).json(t, &sum)
			if sum != (workers.RedriveSummary{Moved: 1, Remaining: 1}) {
				t.Errorf("dry run = %+v, want moved 1, remaining 1", sum)
			}
			b.do("POST", "/admin/v1/dlq/redrive", b.operator, `{"type":"charge.refunded","limit":5}`).json(t, &sum)
			if sum != (workers.RedriveSummary{Moved: 1}) {
				t.Errorf("redrive = %+v, want moved 1, remaining 0", sum)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			msgs, err := b.be.Events.Receive(ctx, 10, 2*time.Second)
			if err != nil || len(msgs) != 1 || msgs[0].Attributes[domain.AttrReplayCount] != "1" || msgs[0].GroupID != "pi_dead" {
				t.Errorf("events queue after redrive: %+v, %v", msgs, err)
			}
		})
	}
}

// TestAdminAPIBackendDown checks that a backend that cannot answer gives 503
// on every kind of endpoint, never a 500 or a hang.
func TestAdminAPIBackendDown(t *testing.T) {
	for _, be := range emulator.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			env := be.Env(t)
			if be.Name == "emulators" {
				// The emulators stopped: every AWS endpoint refuses connections.
				dead := deadPort(t)
				t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", dead)
				t.Setenv("AWS_ENDPOINT_URL_SQS", dead)
				t.Setenv("AWS_MAX_ATTEMPTS", "1")
			}
			b := setup(t, env, nil)
			if be.Name == "sqlite" {
				_ = b.be.Close() // the database is gone
			}
			for _, c := range []struct{ method, path, token, body string }{
				{"GET", "/admin/v1/orders/ord_1", b.viewer, ""},
				{"GET", "/admin/v1/orders?status=pending", b.viewer, ""},
				{"POST", "/admin/v1/orders/ord_1/clear-review", b.operator, ""},
				{"POST", "/admin/v1/orders/ord_1/mark-refunded", b.operator, ""},
				{"POST", "/admin/v1/orders/ord_1/link-payment-intent", b.operator, `{"paymentIntentId":"pi_1"}`},
				{"GET", "/admin/v1/dlq", b.viewer, ""},
				{"POST", "/admin/v1/dlq/redrive", b.operator, `{"dryRun":true}`},
			} {
				r := b.do(c.method, c.path, c.token, c.body)
				if r.status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" {
					t.Errorf("%s %s with the backend down = %d %s, want 503 unavailable", c.method, c.path, r.status, r.body)
				}
			}
		})
	}
}

// TestAdminTokenSourceDown checks that unreadable tokens give 503 (retry),
// not 401 (which would tell a client its token is wrong).
func TestAdminTokenSourceDown(t *testing.T) {
	b := setup(t, emulator.SQLiteEnv(t), nil, func(c *admin.Config) { c.Tokens = brokenTokens{} })
	r := b.do("GET", "/admin/v1/orders/ord_1", b.viewer, "")
	if r.status != 503 || r.errorCode() != "unavailable" {
		t.Errorf("with unreadable tokens: %d %s, want 503", r.status, r.body)
	}
}

type brokenTokens struct{}

func (brokenTokens) AdminTokens(context.Context) (secrets.AdminTokenSet, error) {
	return secrets.AdminTokenSet{}, context.DeadlineExceeded
}

func (brokenTokens) RefreshAdminTokens(ctx context.Context) (secrets.AdminTokenSet, error) {
	return brokenTokens{}.AdminTokens(ctx)
}

func TestAdminNotConfiguredAnswers404(t *testing.T) {
	t.Parallel()
	none, err := secrets.NewAdminTokens(secrets.AdminTokensConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, emulator.SQLiteEnv(t), nil, func(c *admin.Config) { c.Tokens = none })
	for _, p := range []string{"/admin/v1/orders/ord_1", "/admin/v1/dlq", "/v1/access?userId=u&productId=p", "/console/", "/console/signin"} {
		if r := b.do("GET", p, b.operator, ""); r.status != 404 {
			t.Errorf("GET %s with no token configured = %d, want 404", p, r.status)
		}
	}
}

func TestAdminRoutesBehindAStagePrefix(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	b.order("ord_stage", nil)
	if r := b.do("GET", "/prod/admin/v1/orders/ord_stage", b.viewer, ""); r.status != 200 {
		t.Errorf("GET /prod/admin/v1/orders/ord_stage = %d %s", r.status, r.body)
	}
	for _, p := range []string{"/webhooks/stripe", "/prod/webhooks/stripe", "/a/b/admin/v1/orders", "/administrator"} {
		if admin.Matches(p) {
			t.Errorf("Matches(%q) = true", p)
		}
	}
	for _, p := range []string{"/admin/v1/orders", "/prod/admin/v1/dlq", "/console", "/console/", "/prod/console/orders/x", "/v1/access", "/prod/v1/access"} {
		if !admin.Matches(p) {
			t.Errorf("Matches(%q) = false", p)
		}
	}
}

// rotatingTokens serves one token set from the cache and another after a
// refresh, like a secret rotated in Secrets Manager within the cache TTL.
type rotatingTokens struct {
	mu              sync.Mutex
	cached, rotated secrets.AdminTokenSet
	refreshes       int
}

func (r *rotatingTokens) AdminTokens(context.Context) (secrets.AdminTokenSet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cached, nil
}

func (r *rotatingTokens) RefreshAdminTokens(context.Context) (secrets.AdminTokenSet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshes++
	r.cached = r.rotated
	return r.cached, nil
}

func (r *rotatingTokens) set(s secrets.AdminTokenSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cached, r.rotated = s, s
}

// TestAdminTokenRotation checks the webhook secrets' rules on tokens: a token
// added by a rotation works at once (an unknown token refetches), and a
// removed token's console session ends with it.
func TestAdminTokenRotation(t *testing.T) {
	t.Parallel()
	oldTok, oldSum, _ := admin.NewToken()
	newTok, newSum, _ := admin.NewToken()
	src := &rotatingTokens{
		cached:  secrets.AdminTokenSet{Tokens: []secrets.AdminToken{{ActorID: "adm_old", Role: "operator", SHA256: oldSum}}},
		rotated: secrets.AdminTokenSet{Tokens: []secrets.AdminToken{{ActorID: "adm_old", Role: "operator", SHA256: oldSum}, {ActorID: "adm_new", Role: "operator", SHA256: newSum}}},
	}
	b := setup(t, emulator.SQLiteEnv(t), nil, func(c *admin.Config) { c.Tokens = src })
	b.order("ord_rot", nil)
	if r := b.do("GET", "/admin/v1/orders/ord_rot", oldTok, ""); r.status != 200 || src.refreshes != 0 {
		t.Fatalf("known token: %d after %d refreshes", r.status, src.refreshes)
	}
	if r := b.do("GET", "/admin/v1/orders/ord_rot", newTok, ""); r.status != 200 || src.refreshes != 1 {
		t.Fatalf("token added by a rotation: %d after %d refreshes, want 200 after 1", r.status, src.refreshes)
	}
	br := newBrowser(b)
	br.signIn(oldTok)
	if status, _, _ := br.get("/console/dlq"); status != 200 {
		t.Fatalf("console with the old token's session: %d", status)
	}
	src.set(secrets.AdminTokenSet{Tokens: []secrets.AdminToken{{ActorID: "adm_new", Role: "operator", SHA256: newSum}}})
	if status, _, hdr := br.get("/console/dlq"); status != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "/console/signin") {
		t.Errorf("session of a removed token: %d to %q, want sent to sign in", status, hdr.Get("Location"))
	}
	if r := b.do("GET", "/admin/v1/orders/ord_rot", oldTok, ""); r.status != 401 {
		t.Errorf("removed token: %d, want 401", r.status)
	}
}

func TestAdminBodyTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.SQLiteEnv(t), nil)
	b.order("ord_big", nil)
	r := b.do("POST", "/admin/v1/orders/ord_big/link-payment-intent", b.operator, `{"paymentIntentId":"`+strings.Repeat("x", 70<<10)+`"}`)
	if r.status != http.StatusRequestEntityTooLarge || r.errorCode() != "too_large" {
		t.Errorf("70 KiB body: %d %s, want 413 too_large", r.status, r.body)
	}
}
