package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/admin"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/infra/stripeapi"
)

// stripeKey is the test Stripe key; it must never reach a log line.
const stripeKey = "sk_test_LEAKCANARYadmin0000000000"

// bundle is one admin handler on a real backend, served on 127.0.0.1.
type bundle struct {
	t       *testing.T
	env     map[string]string
	be      *backend.Backend
	handler *admin.Handler
	srv     *httptest.Server
	logs    *syncBuffer
	// tokens by role, and the actor ids they carry.
	viewer, operator, service string
	stripe                    *emulator.StripeEventsServer
	refunds                   *fakeRefunder
	now                       time.Time
}

const (
	viewerActor   = "adm_viewer"
	operatorActor = "adm_7"
	serviceActor  = "svc_products"
)

// syncBuffer is a log sink safe for the handler's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// option adjusts the handler's config before it is built.
type option func(*admin.Config)

// setup builds the handler on the backend env configures (emulator.Backends),
// with one token per role from ORDERFLOW_ADMIN_TOKENS and a Stripe stand-in
// serving events.
func setup(t *testing.T, env map[string]string, events []emulator.StripeEvent, opts ...option) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := &bundle{t: t, env: env, logs: &syncBuffer{}, refunds: &fakeRefunder{}}
	b.be = emulator.OpenBackend(ctx, t, env)
	var entries []string
	for _, r := range []struct {
		actor, role string
		dst         *string
	}{{viewerActor, "viewer", &b.viewer}, {operatorActor, "operator", &b.operator}, {serviceActor, "service", &b.service}} {
		tok, sum, err := admin.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		*r.dst = tok
		entries = append(entries, r.actor+":"+r.role+":"+sum)
	}
	tokens, err := secrets.NewAdminTokens(secrets.AdminTokensConfig{Env: strings.Join(entries, ",")})
	if err != nil {
		t.Fatal(err)
	}
	b.stripe = emulator.StripeEvents(t, events...)
	sc, err := stripeapi.New(stripeapi.Config{BaseURL: b.stripe.URL, Keys: secrets.NewStatic(stripeKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	log, err := logging.New(b.logs, "debug", "json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := admin.Config{
		Store: b.be.Store, Events: b.be.Events, DLQ: b.be.DLQ, Stripe: sc, Tokens: tokens,
		Refunder: b.refunds, Access: fakeAccess{}, Logger: log, RedriveWait: 200 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	b.handler, err = admin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(b.handler)
	t.Cleanup(b.srv.Close)
	b.now = time.Now().UTC()
	t.Cleanup(func() { b.assertNoSecretsLogged() })
	return b
}

// assertNoSecretsLogged fails when a token, its hash or the Stripe key
// appears in any log line.
func (b *bundle) assertNoSecretsLogged() {
	b.t.Helper()
	logs := b.logs.String()
	for _, s := range []string{b.viewer, b.operator, b.service, admin.HashToken(b.viewer), admin.HashToken(b.operator), admin.HashToken(b.service), stripeKey, "LEAKCANARY"} {
		if s != "" && strings.Contains(logs, s) {
			b.t.Errorf("a log line shows a token, a token's hash or a secret")
		}
	}
}

// order creates an order; mutate adjusts it before it is written.
func (b *bundle) order(id string, mutate func(*domain.Order)) domain.Order {
	b.t.Helper()
	o := domain.Order{ID: id, UserID: "usr_" + id, SellerID: "sel_1", ProductID: "prd_1", Amount: 2000, Currency: "usd"}
	if mutate != nil {
		mutate(&o)
	}
	o, err := domain.NewOrder(o, time.Now().Add(-90*time.Minute))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.be.Store.Create(context.Background(), o); err != nil {
		b.t.Fatalf("create order %s: %v", id, err)
	}
	return o
}

// response is one answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d %s is not JSON: %v", r.status, r.body, err)
	}
}

// errorCode returns error.code of an error answer.
func (r response) errorCode() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends one request with token (none when "") and returns the answer.
func (b *bundle) do(method, path, token, body string) response {
	b.t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// deadLetter puts one message straight on the DLQ, as the dispatcher does
// after the last failed receive.
func (b *bundle) deadLetter(eventID, eventType, group, lastError string) {
	b.t.Helper()
	_, err := b.be.DLQ.Send(context.Background(), domain.OutgoingMessage{
		Body: []byte(fmt.Sprintf(`{"id":%q,"object":"event","type":%q,"data":{"object":{}}}`, eventID, eventType)), GroupID: group, DedupID: eventID,
		Attributes: map[string]string{domain.AttrEventID: eventID, domain.AttrEventType: eventType, domain.AttrSource: domain.SourceWebhook, domain.AttrLastError: lastError},
	})
	if err != nil {
		b.t.Fatalf("dead-letter %s: %v", eventID, err)
	}
}

// fixture reads a Stripe event fixture with its ids made unique to tag.
func fixture(t *testing.T, file, tag string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(emulator.RepoRoot(t), "testdata", "events", file))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return []byte(strings.NewReplacer(
		"evt_fixture", "evt_"+tag, "ord_fixture", "ord_"+tag, "pi_fixture", "pi_"+tag, "ch_fixture", "ch_"+tag,
	).Replace(string(raw)))
}

// fakeRefunder stands in for the §14 use-case, which lives elsewhere: it
// applies the rules of §14 to the stored order without calling Stripe.
type fakeRefunder struct {
	mu       sync.Mutex
	requests []string
}

func (f *fakeRefunder) Refund(ctx context.Context, orderID, actorID, reason string) (domain.Order, error) {
	f.mu.Lock()
	f.requests = append(f.requests, orderID+"|"+actorID+"|"+reason)
	f.mu.Unlock()
	switch {
	case strings.Contains(orderID, "refunding"):
		return domain.Order{}, fmt.Errorf("order %s: %w", orderID, domain.ErrAlreadyRefunding)
	case strings.Contains(orderID, "pending"):
		return domain.Order{}, fmt.Errorf("order %s: %w", orderID, domain.ErrNotPaid)
	case strings.Contains(orderID, "missing"):
		return domain.Order{}, fmt.Errorf("order %s: %w", orderID, domain.ErrNotFound)
	}
	return domain.Order{ID: orderID, Status: domain.StatusCompleted}, nil
}

// fakeAccess stands in for the §13 use-case: the product id picks the answer.
type fakeAccess struct{}

func (fakeAccess) Check(_ context.Context, userID, productID string) (admin.AccessDecision, error) {
	switch productID {
	case "prd_ok":
		return admin.AccessDecision{Allowed: true, OrderID: "ord_1"}, nil
	case "prd_review":
		return admin.AccessDecision{Reason: admin.ReasonRequiresReview, OrderIDs: []string{"ord_2"}}, nil
	case "prd_down":
		return admin.AccessDecision{}, fmt.Errorf("backend down")
	}
	return admin.AccessDecision{Reason: admin.ReasonNoOrder}, nil
}

// deadPort returns a URL on 127.0.0.1 where nothing listens.
func deadPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}
