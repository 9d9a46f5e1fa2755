package ingress_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/infra/sqlite"
	"github.com/orderflow/orderflow/ingress"
)

// Test-only signing secrets; the tests also assert they never leak.
const (
	secretCurrent = "whsec_test_current_0123456789"
	secretOld     = "whsec_test_old_9876543210"
	secretNew     = "whsec_test_rotated_5555555555"
	secretWrong   = "whsec_test_wrong_0000000000"
)

// now is the injected clock's time; fixtures are signed relative to it.
var now = time.Unix(1_700_000_300, 0).UTC()

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// flakyQueue is the real SQLite queue behind a Send that can be told to fail,
// to prove a failed Send is answered with 503 and the retry lands in the queue.
type flakyQueue struct {
	*sqlite.Queue
	mu    sync.Mutex
	fails int // the next fails Sends return an error without enqueuing
}

func (q *flakyQueue) Send(ctx context.Context, m domain.OutgoingMessage) (string, error) {
	q.mu.Lock()
	fail := q.fails > 0
	if fail {
		q.fails--
	}
	q.mu.Unlock()
	if fail {
		return "", errors.New("queue unavailable")
	}
	return q.Queue.Send(ctx, m)
}

func (q *flakyQueue) failNext(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fails = n
}

// sent lists what the queue holds, without consuming it.
func (q *flakyQueue) sent(t *testing.T) []domain.Message {
	t.Helper()
	msgs, err := q.Peek(context.Background(), 100)
	if err != nil {
		t.Fatalf("peek queue: %v", err)
	}
	return msgs
}

// rotatingSecrets serves cached secrets until refreshed, then the fresh ones,
// like the Secrets Manager provider after a rotation.
type rotatingSecrets struct {
	mu         sync.Mutex
	cached     []string
	fresh      []string
	refreshErr error
	getErr     error
	refreshes  int
}

func (s *rotatingSecrets) WebhookSecrets(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cached, s.getErr
}

func (s *rotatingSecrets) RefreshWebhookSecrets(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes++
	if s.refreshErr != nil {
		return nil, s.refreshErr
	}
	s.cached = s.fresh
	return s.cached, nil
}

func (s *rotatingSecrets) refreshCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// bundle is one handler under test with everything it talks to.
type bundle struct {
	handler *ingress.Handler
	queue   *flakyQueue
	logs    *observer.ObservedLogs
	metrics *bytes.Buffer
}

type option func(*ingress.Config)

func setup(t testing.TB, opts ...option) bundle {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "orderflow.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events"})
	if err != nil {
		t.Fatalf("new queue: %v", err)
	}
	b := bundle{queue: &flakyQueue{Queue: q}, logs: logs, metrics: &bytes.Buffer{}}
	cfg := ingress.Config{
		Queue:   b.queue,
		Secrets: secrets.NewStatic("", secretCurrent),
		Logger:  zap.New(core),
		Metrics: metrics.New(b.metrics),
		Clock:   fixedClock{now},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := ingress.NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	b.handler = h
	return b
}

// fixture reads testdata/events/<name>.json with its placeholders made unique
// to the test, as the README there describes.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", name+".json"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	tag := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	s := strings.NewReplacer(
		"evt_fixture", "evt_"+tag,
		"pi_fixture", "pi_"+tag,
		"ord_fixture", "ord_"+tag,
	).Replace(string(raw))
	return []byte(s)
}

func sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: at,
	}).Header
}

func post(h http.Handler, path string, body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// decodeBody checks the JSON content type and decodes the reply.
func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("reply %q is not JSON: %v", rec.Body.String(), err)
	}
	return m
}

// assertNoLeak fails if a secret or the signature header shows up in the
// reply or the logs. It names what leaked, never the value.
func assertNoLeak(t *testing.T, b bundle, reply, sigHeader string) {
	t.Helper()
	var logText strings.Builder
	for _, e := range b.logs.All() {
		logText.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			fmt.Fprintf(&logText, " %s=%v", k, v)
		}
		logText.WriteString("\n")
	}
	for what, s := range map[string]string{"reply": reply, "logs": logText.String()} {
		for _, secret := range []string{secretCurrent, secretOld, secretNew, secretWrong} {
			if strings.Contains(s, secret) {
				t.Errorf("%s contains a signing secret", what)
			}
		}
		if sigHeader != "" && strings.Contains(s, sigHeader) {
			t.Errorf("%s echoes the Stripe-Signature header", what)
		}
		if i := strings.Index(sigHeader, "v1="); i >= 0 && strings.Contains(s, sigHeader[i+3:]) {
			t.Errorf("%s echoes the signature", what)
		}
	}
}

func TestRejectsBadRequestsAndEnqueuesNothing(t *testing.T) {
	t.Parallel()
	event := fixture(t, "payment_intent.succeeded")
	cases := []struct {
		name    string
		body    []byte
		sig     func(body []byte) string
		wantErr string // a fragment of the error message
	}{
		{"missing signature", event, func([]byte) string { return "" }, "missing Stripe-Signature"},
		{"wrong secret", event, func(b []byte) string { return sign(b, secretWrong, now) }, "no v1 signature"},
		{"stale in the past", event, func(b []byte) string { return sign(b, secretCurrent, now.Add(-301*time.Second)) }, "old, outside the 300s tolerance"},
		{"stale in the future", event, func(b []byte) string { return sign(b, secretCurrent, now.Add(301*time.Second)) }, "in the future"},
		{"malformed: garbage", event, func([]byte) string { return "garbage" }, "malformed"},
		{"malformed: bad timestamp", event, func(b []byte) string {
			return strings.Replace(sign(b, secretCurrent, now), fmt.Sprintf("t=%d", now.Unix()), "t=yesterday", 1)
		}, "malformed"},
		{"malformed: no v1", event, func([]byte) string { return fmt.Sprintf("t=%d,v0=abcdef", now.Unix()) }, "malformed"},
		{"malformed: no timestamp", event, func(b []byte) string {
			return strings.Replace(sign(b, secretCurrent, now), fmt.Sprintf("t=%d,", now.Unix()), "", 1)
		}, "malformed"},
		{"tampered body", bytes.Replace(event, []byte(`"amount": 2000`), []byte(`"amount": 1`), 1),
			func([]byte) string { return sign(event, secretCurrent, now) }, "no v1 signature"},
		{"empty body, signed", []byte{}, func(b []byte) string { return sign(b, secretCurrent, now) }, "not a Stripe event"},
		{"non-JSON body, signed", []byte("amount=2000&currency=usd"), func(b []byte) string { return sign(b, secretCurrent, now) }, "not a Stripe event"},
		{"JSON but not an event, signed", []byte(`{"id":"pi_123","object":"payment_intent","amount":2000}`),
			func(b []byte) string { return sign(b, secretCurrent, now) }, "not a Stripe event"},
		{"JSON array, signed", []byte(`[1,2,3]`), func(b []byte) string { return sign(b, secretCurrent, now) }, "not a Stripe event"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			sig := tc.sig(tc.body)
			rec := post(b.handler, "/webhooks/stripe", tc.body, sig)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", rec.Code, rec.Body)
			}
			reply := decodeBody(t, rec)
			msg, _ := reply["error"].(string)
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error = %q, want it to mention %q", msg, tc.wantErr)
			}
			if n := len(b.queue.sent(t)); n != 0 {
				t.Errorf("%d messages enqueued, want none", n)
			}
			assertNoLeak(t, b, rec.Body.String(), sig)
		})
	}
}

func TestToleranceBoundaryAccepted(t *testing.T) {
	t.Parallel()
	for _, offset := range []time.Duration{-299 * time.Second, 299 * time.Second} {
		t.Run(offset.String(), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			body := fixture(t, "payment_intent.succeeded")
			if rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now.Add(offset))); rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestOversizedBody(t *testing.T) {
	t.Parallel()
	const limit = 1024
	cases := []struct {
		name     string
		size     int
		streamed bool // no Content-Length: the limit must hold while reading
		want     int
	}{
		{"one byte over, with length", limit + 1, false, http.StatusRequestEntityTooLarge},
		{"one byte over, streamed", limit + 1, true, http.StatusRequestEntityTooLarge},
		{"far over, streamed", 10 * limit, true, http.StatusRequestEntityTooLarge},
		// At the limit the body is read and verified; it is not an event, so 400.
		{"exactly at the limit", limit, false, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *ingress.Config) { c.MaxBody = limit })
			body := bytes.Repeat([]byte("x"), tc.size)
			var r io.Reader = bytes.NewReader(body)
			if tc.streamed {
				r = io.MultiReader(r) // hides the length from httptest
			}
			req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", r)
			req.Header.Set("Stripe-Signature", sign(body, secretCurrent, now))
			rec := httptest.NewRecorder()
			b.handler.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.want, rec.Body)
			}
			decodeBody(t, rec)
			if n := len(b.queue.sent(t)); n != 0 {
				t.Errorf("%d messages enqueued, want none", n)
			}
		})
	}
}

func TestDefaultMaxBodyIs256KiB(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := bytes.Repeat([]byte(" "), 256<<10+1)
	if rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now)); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", rec.Code)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			rec := httptest.NewRecorder()
			b.handler.ServeHTTP(rec, httptest.NewRequest(method, "/webhooks/stripe", nil))
			if rec.Code != http.StatusMethodNotAllowed {
				t.Fatalf("status = %d, want 405", rec.Code)
			}
			if got := rec.Header().Get("Allow"); got != "POST" {
				t.Errorf("Allow = %q, want POST", got)
			}
		})
	}
}

func TestUnknownPathIs404(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/", "/webhooks", "/webhooks/stripe/extra", "/webhooks/stripex", "/prodwebhooks/stripe"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			body := fixture(t, "payment_intent.succeeded")
			rec := post(b.handler, path, body, sign(body, secretCurrent, now))
			if rec.Code != http.StatusNotFound {
				t.Fatalf("status = %d, want 404", rec.Code)
			}
			decodeBody(t, rec)
			if n := len(b.queue.sent(t)); n != 0 {
				t.Errorf("%d messages enqueued, want none", n)
			}
		})
	}
}

func TestAcceptedEventsAreEnqueued(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fixture, eventType, eventID, path string
	}{
		{"payment_intent.succeeded", domain.EventPaymentSucceeded, "_pi_succeeded", "/webhooks/stripe"},
		{"payment_intent.payment_failed", domain.EventPaymentFailed, "_pi_failed", "/webhooks/stripe"},
		{"charge.refunded", domain.EventChargeRefunded, "_charge_refunded", "/webhooks/stripe"},
		{"charge.refunded.partial", domain.EventChargeRefunded, "_charge_refunded_partial", "/prod/webhooks/stripe"},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			body := fixture(t, tc.fixture)
			tag := strings.ReplaceAll(t.Name(), "/", "_")
			rec := post(b.handler, tc.path, body, sign(body, secretCurrent, now))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != `{"received":true}` {
				t.Errorf("reply = %s, want {\"received\":true}", got)
			}
			decodeBody(t, rec)
			msgs := b.queue.sent(t)
			if len(msgs) != 1 {
				t.Fatalf("%d messages enqueued, want 1", len(msgs))
			}
			m := msgs[0]
			wantID := "evt_" + tag + tc.eventID
			if m.GroupID != "pi_"+tag {
				t.Errorf("GroupID = %q, want the payment intent pi_%s", m.GroupID, tag)
			}
			if m.DedupID != wantID {
				t.Errorf("DedupID = %q, want %q", m.DedupID, wantID)
			}
			wantAttrs := map[string]string{"eventType": tc.eventType, "eventId": wantID, "source": "webhook"}
			if fmt.Sprint(m.Attributes) != fmt.Sprint(wantAttrs) {
				t.Errorf("Attributes = %v, want %v", m.Attributes, wantAttrs)
			}
			if !bytes.Equal(m.Body, body) {
				t.Errorf("enqueued body differs from the posted bytes")
			}

			entries := b.logs.FilterMessage("webhook event enqueued").All()
			if len(entries) != 1 {
				t.Fatalf("%d 'enqueued' log lines, want 1", len(entries))
			}
			fields := entries[0].ContextMap()
			for k, want := range map[string]string{logging.FieldEventID: wantID, logging.FieldEventType: tc.eventType, logging.FieldGroup: "pi_" + tag} {
				if fields[k] != want {
					t.Errorf("log field %s = %v, want %q", k, fields[k], want)
				}
			}
			if !strings.Contains(b.metrics.String(), `"EventsReceived":1`) || !strings.Contains(b.metrics.String(), `"eventType":"`+tc.eventType+`"`) {
				t.Errorf("no EventsReceived metric for %s in %s", tc.eventType, b.metrics)
			}
		})
	}
}

func TestIgnoredTypeIsAcknowledgedNotEnqueued(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := fixture(t, "customer.created")
	rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	decodeBody(t, rec)
	if got := strings.TrimSpace(rec.Body.String()); got != `{"received":true,"ignored":true}` {
		t.Errorf("reply = %s, want {\"received\":true,\"ignored\":true}", rec.Body)
	}
	if n := len(b.queue.sent(t)); n != 0 {
		t.Errorf("%d messages enqueued, want none", n)
	}
}

func TestOtherAPIVersionAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := fixture(t, "payment_intent.succeeded")
	pinned := `"api_version": "` + stripe.APIVersion + `"`
	if !bytes.Contains(body, []byte(pinned)) {
		t.Fatalf("fixture does not carry stripe-go's pinned api_version %s", stripe.APIVersion)
	}
	body = bytes.Replace(body, []byte(pinned), []byte(`"api_version": "2020-08-27"`), 1)
	rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	if n := len(b.queue.sent(t)); n != 1 {
		t.Errorf("%d messages enqueued, want 1", n)
	}
}

func TestRotationAcceptsEveryConfiguredSecret(t *testing.T) {
	t.Parallel()
	body := fixture(t, "payment_intent.succeeded")
	twoV1 := func(s1, s2 string) string {
		h1, h2 := sign(body, s1, now), sign(body, s2, now)
		return h1 + "," + h2[strings.Index(h2, "v1="):]
	}
	cases := []struct {
		name string
		sig  string
	}{
		{"new secret", sign(body, secretNew, now)},
		{"old secret", sign(body, secretOld, now)},
		// Stripe sends one v1 per endpoint secret while it rolls one.
		{"unknown then known v1", twoV1(secretWrong, secretOld)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &rotatingSecrets{cached: []string{secretNew, secretOld}}
			b := setup(t, func(c *ingress.Config) { c.Secrets = s })
			rec := post(b.handler, "/webhooks/stripe", body, tc.sig)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			if n := len(b.queue.sent(t)); n != 1 {
				t.Errorf("%d messages enqueued, want 1", n)
			}
			if n := s.refreshCount(); n != 0 {
				t.Errorf("secrets refreshed %d times, want 0 when a cached secret matches", n)
			}
		})
	}
}

func TestRefreshSecretsOnceWhenVerificationFails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		signWith   string
		refreshErr error
		wantStatus int
		wantSent   int
	}{
		{"rotated secret accepted on first try", secretNew, nil, http.StatusOK, 1},
		{"wrong secret still rejected", secretWrong, nil, http.StatusBadRequest, 0},
		{"refresh failure answers 400, not 5xx", secretNew, errors.New("secrets manager down"), http.StatusBadRequest, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &rotatingSecrets{cached: []string{secretOld}, fresh: []string{secretNew}, refreshErr: tc.refreshErr}
			b := setup(t, func(c *ingress.Config) { c.Secrets = s })
			body := fixture(t, "payment_intent.succeeded")
			sig := sign(body, tc.signWith, now)
			rec := post(b.handler, "/webhooks/stripe", body, sig)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if n := s.refreshCount(); n != 1 {
				t.Errorf("secrets refreshed %d times, want exactly 1", n)
			}
			if n := len(b.queue.sent(t)); n != tc.wantSent {
				t.Errorf("%d messages enqueued, want %d", n, tc.wantSent)
			}
			assertNoLeak(t, b, rec.Body.String(), sig)
		})
	}
}

func TestSecretsUnavailableIs503(t *testing.T) {
	t.Parallel()
	s := &rotatingSecrets{getErr: errors.New("secrets manager down")}
	b := setup(t, func(c *ingress.Config) { c.Secrets = s })
	body := fixture(t, "payment_intent.succeeded")
	rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", rec.Code, rec.Body)
	}
	decodeBody(t, rec)
	if n := len(b.queue.sent(t)); n != 0 {
		t.Errorf("%d messages enqueued, want none", n)
	}
}

func TestQueueFailureIs503AndTheRetryIsEnqueued(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.queue.failNext(1)
	body := fixture(t, "charge.refunded")
	rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", rec.Code, rec.Body)
	}
	reply := decodeBody(t, rec)
	if _, ok := reply["received"]; ok {
		t.Errorf("reply %s acknowledges an event the queue did not take", rec.Body)
	}
	if len(b.logs.FilterLevelExact(zap.ErrorLevel).All()) == 0 {
		t.Errorf("the queue failure was not logged at error level")
	}
	// Stripe retries a 5xx with the same event; it must then be enqueued.
	rec = post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now))
	if rec.Code != http.StatusOK {
		t.Fatalf("retry status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	msgs := b.queue.sent(t)
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Body, body) {
		t.Fatalf("after the retry %d messages enqueued, want exactly the posted event", len(msgs))
	}
}

func TestAPIGateway(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		method     string
		base64     bool
		body       func(raw []byte) string
		wantStatus int
		wantSent   int
	}{
		{"base64 body, stage path", http.MethodPost, true, func(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }, http.StatusOK, 1},
		{"plain body", http.MethodPost, false, func(raw []byte) string { return string(raw) }, http.StatusOK, 1},
		{"invalid base64", http.MethodPost, true, func([]byte) string { return "%%%not base64" }, http.StatusBadRequest, 0},
		{"GET", http.MethodGet, false, func([]byte) string { return "" }, http.StatusMethodNotAllowed, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			raw := fixture(t, "payment_intent.succeeded")
			req := events.APIGatewayV2HTTPRequest{
				Version: "2.0", RouteKey: "POST /webhooks/stripe", RawPath: "/prod/webhooks/stripe",
				// API Gateway lowercases header names.
				Headers: map[string]string{
					"content-type":     "application/json; charset=utf-8",
					"stripe-signature": sign(raw, secretCurrent, now),
				},
				Body: tc.body(raw), IsBase64Encoded: tc.base64,
			}
			req.RequestContext.Stage = "prod"
			req.RequestContext.HTTP.Method = tc.method
			req.RequestContext.HTTP.Path = "/prod/webhooks/stripe"
			resp, err := b.handler.HandleAPIGateway(context.Background(), req)
			if err != nil {
				t.Fatalf("HandleAPIGateway: %v", err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, resp.Body)
			}
			if resp.Headers["Content-Type"] != "application/json" || !json.Valid([]byte(resp.Body)) {
				t.Errorf("reply is not JSON: %q %q", resp.Headers["Content-Type"], resp.Body)
			}
			if tc.wantStatus == http.StatusMethodNotAllowed && resp.Headers["Allow"] != "POST" {
				t.Errorf("Allow = %q, want POST", resp.Headers["Allow"])
			}
			msgs := b.queue.sent(t)
			if len(msgs) != tc.wantSent {
				t.Fatalf("%d messages enqueued, want %d", len(msgs), tc.wantSent)
			}
			if tc.wantSent == 1 && !bytes.Equal(msgs[0].Body, raw) {
				t.Errorf("enqueued body differs from the decoded bytes that were signed")
			}
		})
	}
}

func TestRouteGroup(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw, wantGroup string
	}{
		{"payment intent object", `{"id":"evt_1","created":1700000000,"type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent","metadata":{"orderId":"ord_1"}}}}`, "pi_1"},
		{"charge with payment intent", `{"id":"evt_2","created":1700000000,"type":"charge.refunded","data":{"object":{"id":"ch_1","object":"charge","payment_intent":"pi_2","metadata":{"orderId":"ord_1"}}}}`, "pi_2"},
		{"charge without payment intent, order id", `{"id":"evt_3","created":1700000000,"type":"charge.refunded","data":{"object":{"id":"ch_1","object":"charge","payment_intent":null,"metadata":{"orderId":"ord_3"}}}}`, "ord_3"},
		{"nothing but the object id", `{"id":"evt_4","created":1700000000,"type":"charge.refunded","data":{"object":{"id":"ch_4","object":"charge"}}}`, "ch_4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := domain.ParseEvent([]byte(tc.raw))
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			m := ingress.Route(ev, []byte(tc.raw), domain.SourceReplay)
			if m.GroupID != tc.wantGroup || m.DedupID != ev.ID || string(m.Body) != tc.raw {
				t.Errorf("Route = group %q dedup %q, want group %q dedup %q and the raw body", m.GroupID, m.DedupID, tc.wantGroup, ev.ID)
			}
			if m.Attributes["source"] != "replay" || m.Attributes["eventId"] != ev.ID || m.Attributes["eventType"] != ev.Type {
				t.Errorf("Attributes = %v", m.Attributes)
			}
		})
	}
}

func TestNewHandlerReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := ingress.NewHandler(ingress.Config{MaxBody: -1})
	if !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, want := range []string{"Queue", "Secrets", "MaxBody"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestDuplicateDeliveryEnqueuedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := fixture(t, "payment_intent.payment_failed")
	// Stripe redelivers the same event with a fresh signature timestamp.
	for i, at := range []time.Time{now.Add(-10 * time.Second), now} {
		if rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, at)); rec.Code != http.StatusOK {
			t.Fatalf("delivery %d: status = %d, want 200; body %s", i+1, rec.Code, rec.Body)
		}
	}
	if n := len(b.queue.sent(t)); n != 1 {
		t.Errorf("%d messages in the queue, want 1 (dedup id is the event id)", n)
	}
}
