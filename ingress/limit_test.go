package ingress_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/ingress"
)

// manyV1 is a header with n v1 entries that do not match, then one that does.
func manyV1(body []byte, n int) string {
	good := sign(body, secretCurrent, now)
	t, v1, _ := strings.Cut(good, ",")
	var sb strings.Builder
	sb.WriteString(t)
	for i := 0; i < n; i++ {
		sb.WriteString(",v1=")
		sb.WriteString(strings.Repeat("ab", 32))
	}
	sb.WriteString(",")
	sb.WriteString(v1)
	return sb.String()
}

func TestSignatureHeaderBounds(t *testing.T) {
	t.Parallel()
	event := fixture(t, "payment_intent.succeeded")
	cases := []struct {
		name    string
		sig     string
		want    int
		wantErr string
	}{
		{"the bound of v1 entries is accepted", manyV1(event, ingress.MaxV1Signatures-1), http.StatusOK, ""},
		{"one v1 entry over the bound", manyV1(event, ingress.MaxV1Signatures), http.StatusBadRequest, "more than 8 v1 signatures"},
		{"10,000 v1 entries", manyV1(event, 10_000), http.StatusBadRequest, "longer than 4096 bytes"},
		{"padded past 4 KiB", sign(event, secretCurrent, now) + "," + strings.Repeat("x=y,", ingress.MaxSignatureHeader/4), http.StatusBadRequest, "longer than 4096 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &rotatingSecrets{cached: []string{secretCurrent}, fresh: []string{secretCurrent}}
			b := setup(t, func(c *ingress.Config) { c.Secrets = s })
			rec := post(b.handler, "/webhooks/stripe", event, tc.sig)
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want != http.StatusBadRequest {
				return
			}
			if msg, _ := decodeBody(t, rec)["error"].(string); !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error = %q, want it to mention %q", msg, tc.wantErr)
			}
			// A malformed header fails with any secret: refetching is waste.
			if n := s.refreshCount(); n != 0 {
				t.Errorf("secrets refreshed %d times for a malformed header, want 0", n)
			}
			if n := len(b.queue.sent(t)); n != 0 {
				t.Errorf("%d messages enqueued, want none", n)
			}
			assertNoLeak(t, b, rec.Body.String(), tc.sig)
		})
	}
}

// TestPermanentInputIs400 covers signed bodies that no retry can fix: they
// must get a 4xx, or Stripe retries them for three days (issue 12, item 3).
func TestPermanentInputIs400(t *testing.T) {
	t.Parallel()
	valid := `{"id":"evt_ok","type":"charge.refunded","data":{"object":{"id":"ch_1","object":"charge","payment_intent":"pi_1"}}}`
	cases := []struct{ name, body string }{
		{"object without id", `{"id":"evt_1","type":"charge.refunded","data":{"object":{}}}`},
		{"object with empty id", `{"id":"evt_2","type":"payment_intent.succeeded","data":{"object":{"id":""}}}`},
		{"object is not an object", `{"id":"evt_3","type":"charge.refunded","data":{"object":["ch_1"]}}`},
		{"wrong type for amount", `{"id":"evt_4","type":"charge.refunded","data":{"object":{"id":"ch_1","amount":"lots"}}}`},
		{"no type", `{"id":"evt_5","data":{"object":{"id":"ch_1"}}}`},
		{"trailing garbage", valid + `garbage`},
		{"two JSON values", valid + valid},
		{"JSON null", `null`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			body := []byte(tc.body)
			for i := 0; i < 2; i++ { // a retry gets the same answer
				rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now))
				if rec.Code != http.StatusBadRequest {
					t.Fatalf("attempt %d: status = %d, want 400; body %s", i+1, rec.Code, rec.Body)
				}
				if msg, _ := decodeBody(t, rec)["error"].(string); msg == "" || strings.Contains(msg, "\n") {
					t.Errorf("error = %q, want one line", msg)
				}
			}
			if n := len(b.queue.sent(t)); n != 0 {
				t.Errorf("%d messages enqueued, want none", n)
			}
		})
	}
}

// failingQueue fails every Send with err.
type failingQueue struct {
	*flakyQueue
	err error
}

func (q failingQueue) Send(context.Context, domain.OutgoingMessage) (string, error) { return "", q.err }

// TestQueueErrorStatus: only a message the queue refuses as invalid is the
// sender's fault (400); every other queue failure, permanent or not, is
// answered 503 so Stripe delivers the event once it is fixed.
func TestQueueErrorStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"message refused as invalid", fmt.Errorf("sqs send: %w: InvalidParameterValue", domain.ErrInvalid), http.StatusBadRequest},
		{"permanent and invalid", domain.Permanentf("sqs send: %w", domain.ErrInvalid), http.StatusBadRequest},
		{"queue does not exist", domain.Permanent(fmt.Errorf("sqs send: %w: QueueDoesNotExist", domain.ErrNotFound)), http.StatusServiceUnavailable},
		{"throttled", errors.New("sqs send: ThrottlingException"), http.StatusServiceUnavailable},
		{"deadline", context.DeadlineExceeded, http.StatusServiceUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			h, err := ingress.NewHandler(ingress.Config{Queue: failingQueue{b.queue, tc.err}, Secrets: secrets.NewStatic("", secretCurrent), Clock: fixedClock{now}})
			if err != nil {
				t.Fatal(err)
			}
			body := fixture(t, "payment_intent.succeeded")
			rec := post(h, "/webhooks/stripe", body, sign(body, secretCurrent, now))
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.want, rec.Body)
			}
			decodeBody(t, rec)
		})
	}
}

// blockingQueue holds every Send until released, so requests stay in flight.
type blockingQueue struct {
	*flakyQueue
	entered chan struct{}
	release chan struct{}
}

func (q *blockingQueue) Send(ctx context.Context, m domain.OutgoingMessage) (string, error) {
	q.entered <- struct{}{}
	<-q.release
	return q.flakyQueue.Send(ctx, m)
}

// countingReader records whether anything read the body.
type countingReader struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func TestInFlightBound(t *testing.T) {
	t.Parallel()
	const limit = 2
	b := setup(t)
	q := &blockingQueue{flakyQueue: b.queue, entered: make(chan struct{}), release: make(chan struct{})}
	h, err := ingress.NewHandler(ingress.Config{Queue: q, Secrets: secrets.NewStatic("", secretCurrent), Clock: fixedClock{now}, MaxInFlight: limit})
	if err != nil {
		t.Fatal(err)
	}
	base := fixture(t, "payment_intent.succeeded")
	event := func(i int) []byte {
		return bytes.Replace(base, []byte(`"id": "evt_`), []byte(fmt.Sprintf(`"id": "evt_%d_`, i)), 1)
	}

	var wg sync.WaitGroup
	codes := make([]int, limit)
	for i := 0; i < limit; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := event(i)
			codes[i] = post(h, "/webhooks/stripe", body, sign(body, secretCurrent, now)).Code
		}()
	}
	for i := 0; i < limit; i++ {
		<-q.entered // both requests now hold their slot, blocked in Send
	}

	body := event(limit)
	cr := &countingReader{r: bytes.NewReader(body)}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", cr)
	req.ContentLength = int64(len(body))
	req.Header.Set("Stripe-Signature", sign(body, secretCurrent, now))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("request over the bound: status = %d, want 503; body %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if n := cr.read.Load(); n != 0 {
		t.Errorf("%d body bytes read from a request turned away, want 0", n)
	}
	decodeBody(t, rec)

	close(q.release)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d in flight: status %d, want 200", i, c)
		}
	}
	// The slots are free again: the retry of the refused request is taken.
	go func() { <-q.entered }()
	if rec := post(h, "/webhooks/stripe", body, sign(body, secretCurrent, now)); rec.Code != http.StatusOK {
		t.Fatalf("retry after the flood: status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	if n := len(b.queue.sent(t)); n != limit+1 {
		t.Errorf("%d messages enqueued, want %d", n, limit+1)
	}
}

func TestMaxInFlightMustNotBeNegative(t *testing.T) {
	t.Parallel()
	_, err := ingress.NewHandler(ingress.Config{Queue: &flakyQueue{}, Secrets: secrets.NewStatic("", secretCurrent), MaxInFlight: -1})
	if err == nil || !strings.Contains(err.Error(), "MaxInFlight") {
		t.Fatalf("err = %v, want it to name MaxInFlight", err)
	}
}

// BenchmarkSignatureHeader compares rejecting a normal bad signature with
// rejecting a header of 10,000 v1 entries (about 660 KB, which net/http's
// default 1 MB header limit lets through); they should cost about the same.
func BenchmarkSignatureHeader(b *testing.B) {
	body := fixture(b, "payment_intent.succeeded")
	// Headers whose every v1 entry is wrong, so the old code paid for all.
	badV1 := func(n int) string {
		t, _, _ := strings.Cut(sign(body, secretWrong, now), ",")
		return t + strings.Repeat(",v1="+strings.Repeat("ab", 32), n)
	}
	cases := []struct{ name, sig string }{
		{"bad_signature", sign(body, secretWrong, now)},
		{"8_bad_v1_entries", badV1(ingress.MaxV1Signatures)},
		{"10000_bad_v1_entries", badV1(10_000)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			bundle := setup(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if rec := post(bundle.handler, "/webhooks/stripe", body, tc.sig); rec.Code != http.StatusBadRequest {
					b.Fatalf("status %d, want 400", rec.Code)
				}
			}
		})
	}
}

// BenchmarkLargeBody posts a signed event of just under 256 KiB and reports
// the bytes the request allocates as a multiple of the body ("x_body"; the
// issue measured 3.8). The queue is the real SQLite one, so the figure
// includes storing the message.
func BenchmarkLargeBody(b *testing.B) {
	base := fixture(b, "payment_intent.succeeded")
	pad := strings.Repeat("x", 250<<10)
	template := bytes.Replace(base, []byte(`"id": "evt_`), []byte(`"padding": "`+pad+`", "id": "evt_`), 1)
	bundle := setup(b)
	b.ReportAllocs()
	var handlerBytes uint64
	var before, after runtime.MemStats
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := bytes.Replace(template, []byte(`"id": "evt_`), []byte(fmt.Sprintf(`"id": "evt_%d_`, i)), 1)
		sig := sign(body, secretCurrent, now)
		// Only the request counts, not building the body and its signature.
		runtime.ReadMemStats(&before)
		rec := post(bundle.handler, "/webhooks/stripe", body, sig)
		runtime.ReadMemStats(&after)
		handlerBytes += after.TotalAlloc - before.TotalAlloc
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(handlerBytes)/float64(b.N)/float64(len(template)), "x_body")
}
