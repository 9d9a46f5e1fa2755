package ingress_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/ingress"
)

// SPEC §3 "Live and test mode": a known mode ignores events of the other
// mode (200 ignored, ModeMismatch, a warning, nothing enqueued); an unknown
// mode accepts both.
func TestLivemodeMismatchIsIgnored(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode     string
		livemode bool
		enqueued bool
	}{
		{ingress.ModeTest, false, true},
		{ingress.ModeTest, true, false},
		{ingress.ModeLive, true, true},
		{ingress.ModeLive, false, false},
		{"", true, true},
		{"", false, true},
	} {
		b := setup(t, func(c *ingress.Config) { c.Mode = tc.mode })
		body := fixture(t, "payment_intent.succeeded")
		if tc.livemode {
			body = []byte(strings.ReplaceAll(string(body), `"livemode": false`, `"livemode": true`))
		}
		rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now))
		if rec.Code != http.StatusOK {
			t.Fatalf("mode %q livemode %v: status %d %s", tc.mode, tc.livemode, rec.Code, rec.Body)
		}
		n := len(b.queue.sent(t))
		if (n == 1) != tc.enqueued {
			t.Errorf("mode %q livemode %v: %d enqueued, want enqueued=%v", tc.mode, tc.livemode, n, tc.enqueued)
		}
		mismatch := strings.Contains(b.metrics.String(), `"ModeMismatch":1`)
		if mismatch == tc.enqueued {
			t.Errorf("mode %q livemode %v: ModeMismatch metric = %v", tc.mode, tc.livemode, mismatch)
		}
		if !tc.enqueued && strings.TrimSpace(rec.Body.String()) != `{"received":true,"ignored":true}` {
			t.Errorf("reply %s, want ignored", rec.Body)
		}
	}
	if _, err := ingress.NewHandler(ingress.Config{Queue: setup(t).queue, Secrets: nil, Mode: "prod"}); err == nil ||
		!strings.Contains(err.Error(), `Mode "prod"`) {
		t.Errorf("a bad mode: %v", err)
	}
}

// A body under MaxBody whose message is over SQS's limit once its
// attributes are counted is answered 413, like any oversized body: the
// limits agree end to end (issue 12, AWS stack).
func TestBodyTooLargeWithAttributesIs413(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := fixture(t, "payment_intent.succeeded")
	pad := int(ingress.DefaultMaxBody) - len(body) - 20
	body = []byte(strings.Replace(string(body), `"metadata": {`, `"metadata": {"pad": "`+strings.Repeat("x", pad)+`",`, 1))
	if int64(len(body)) > ingress.DefaultMaxBody {
		t.Fatalf("test body is %d bytes, over the limit", len(body))
	}
	rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d %s, want 413", rec.Code, rec.Body)
	}
	if n := len(b.queue.sent(t)); n != 0 {
		t.Fatalf("%d enqueued", n)
	}
}

// Issue 12, input 4: a signed event with an added "TYPE" key is read
// differently by Go's case-insensitive decoder than by Stripe's libraries:
// refused with 400, nothing enqueued.
func TestEventWithKeyInAnotherCaseIs400(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := fixture(t, "charge.refunded")
	body = []byte(strings.Replace(string(body), `"type": "charge.refunded"`, `"type": "charge.refunded", "TYPE": "customer.created"`, 1))
	if !strings.Contains(string(body), `"TYPE"`) {
		t.Fatal("fixture has no top-level type to shadow")
	}
	rec := post(b.handler, "/webhooks/stripe", body, sign(body, secretCurrent, now))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "TYPE") {
		t.Fatalf("status %d %s, want 400 naming the key", rec.Code, rec.Body)
	}
	if n := len(b.queue.sent(t)); n != 0 {
		t.Fatalf("%d enqueued", n)
	}
}
