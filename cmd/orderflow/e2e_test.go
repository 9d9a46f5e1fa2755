package main_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/orderflow/orderflow/domain"
)

// runPipelineScenarios is the end-to-end story shared by the SQLite and AWS
// backends: signed events in through the real HTTP server, orders out through
// the real CLI.
func runPipelineScenarios(t *testing.T, h *harness) {
	h.putOrder("ord_a", "", 2000)
	h.putOrder("ord_b", "pi_b", 2000)
	h.putOrder("ord_c", "", 5000)
	h.start()

	t.Run("failed then succeeded then refunded, duplicates applied once", func(t *testing.T) {
		ids := []string{"pi_fixture", "pi_a", "ord_fixture", "ord_a", "ch_fixture", "ch_a"}
		failed := fixture(t, "payment_intent.payment_failed.json", append(ids, "evt_fixture_pi_failed", "evt_a_failed")...)
		if code, body := h.post(failed, testWebhookSecret); code != http.StatusOK {
			t.Fatalf("payment_failed: %d %s", code, body)
		}
		o := h.waitOrder("ord_a", "payment failed", func(o domain.Order) bool { return o.PaymentStatus == domain.PaymentFailed })
		if o.PaymentFailedAt == nil || o.PaymentFailedAt.Unix() != 1700000000 {
			t.Errorf("paymentFailedAt = %v, want the event's created time", o.PaymentFailedAt)
		}

		succeeded := fixture(t, "payment_intent.succeeded.json", append(ids, "evt_fixture_pi_succeeded", "evt_a_ok")...)
		for i := 0; i < 3; i++ { // Stripe retries: the same event three times
			if code, body := h.post(succeeded, testWebhookSecret); code != http.StatusOK {
				t.Fatalf("payment_succeeded #%d: %d %s", i, code, body)
			}
		}
		o = h.waitOrder("ord_a", "completed", func(o domain.Order) bool { return o.Status == domain.StatusCompleted })
		if o.PaymentStatus != domain.PaymentPaid || o.StripePaymentIntentID != "pi_a" || o.StripeChargeID != "ch_a" || o.RequiresReview {
			t.Errorf("after success: %+v", o)
		}

		refund := fixture(t, "charge.refunded.json", append(ids, "evt_fixture_charge_refunded", "evt_a_refund")...)
		h.post(refund, testWebhookSecret)
		h.post(refund, testWebhookSecret)
		o = h.waitOrder("ord_a", "refunded", func(o domain.Order) bool { return o.Status == domain.StatusRefunded })
		want := []string{domain.EntryPaymentFailed, domain.EntryPaymentSucceeded, domain.EntryRefundFull}
		if got := timelineTypes(o); !slices.Equal(got, want) {
			t.Fatalf("timeline = %v, want %v", got, want)
		}
		for _, id := range []string{"evt_a_failed", "evt_a_ok", "evt_a_refund"} {
			if n := countEvent(o, id); n != 1 {
				t.Errorf("event %s has %d timeline entries, want 1", id, n)
			}
		}
	})

	t.Run("order found through the payment intent when metadata has no orderId", func(t *testing.T) {
		ev := fixture(t, "payment_intent.succeeded.json", `"orderId": "ord_fixture"`, `"note": "no order id"`,
			"pi_fixture", "pi_b", "ch_fixture", "ch_b", "evt_fixture_pi_succeeded", "evt_b_ok")
		if code, body := h.post(ev, testWebhookSecret); code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		h.waitOrder("ord_b", "completed", func(o domain.Order) bool { return o.Status == domain.StatusCompleted })
	})

	t.Run("amount mismatch flagged, listed, then cleared by an operator", func(t *testing.T) {
		ev := fixture(t, "payment_intent.succeeded.json", "pi_fixture", "pi_c", "ord_fixture", "ord_c", "ch_fixture", "ch_c",
			"evt_fixture_pi_succeeded", "evt_c_ok")
		h.post(ev, testWebhookSecret)
		o := h.waitOrder("ord_c", "flagged", func(o domain.Order) bool { return o.RequiresReview })
		if o.ReviewReason != domain.ReasonAmountMismatch {
			t.Fatalf("reviewReason = %q", o.ReviewReason)
		}
		listed := h.mustCLI("", "orders", "list", "--requires-review")
		if !strings.Contains(listed, `"id":"ord_c"`) || strings.Contains(listed, `"id":"ord_a"`) {
			t.Fatalf("orders list --requires-review:\n%s", listed)
		}
		h.mustCLI("", "orders", "clear-review", "ord_c", "--actor", "adm_7")
		o = h.getOrder("ord_c")
		last := o.Timeline[len(o.Timeline)-1]
		if o.RequiresReview || last.Type != domain.EntryReviewCleared || last.ActorID != "adm_7" || last.Actor != "admin" {
			t.Fatalf("after clear-review: requiresReview=%v last=%+v", o.RequiresReview, last)
		}
	})

	t.Run("bad signature and ignored types change nothing", func(t *testing.T) {
		before := h.getOrder("ord_b")
		ev := fixture(t, "charge.refunded.json", "pi_fixture", "pi_b", "ord_fixture", "ord_b", "evt_fixture_charge_refunded", "evt_b_forged")
		if code, _ := h.post(ev, "whsec_not_the_secret"); code != http.StatusBadRequest {
			t.Fatalf("forged event: %d, want 400", code)
		}
		code, body := h.post(fixture(t, "customer.created.json"), testWebhookSecret)
		if code != http.StatusOK || !strings.Contains(body, `"ignored":true`) {
			t.Fatalf("ignored type: %d %s", code, body)
		}
		if after := h.getOrder("ord_b"); after.Version != before.Version {
			t.Fatalf("order changed: version %d → %d", before.Version, after.Version)
		}
	})

	t.Run("an event for an unknown order ends in the dead-letter queue", func(t *testing.T) {
		ev := fixture(t, "payment_intent.succeeded.json", "pi_fixture", "pi_ghost", "ord_fixture", "ord_ghost",
			"evt_fixture_pi_succeeded", "evt_ghost")
		if code, body := h.post(ev, testWebhookSecret); code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		entry := h.waitDLQ("evt_ghost")
		if entry["eventType"] != domain.EventPaymentSucceeded || entry["group"] != "pi_ghost" {
			t.Fatalf("dlq entry = %v", entry)
		}
		// SQLite keeps the worker's last failure; SQS cannot change a message,
		// so there the reason is only known for permanent failures.
		if lastError, _ := entry["lastError"].(string); h.backend == "sqlite" && !strings.Contains(lastError, "ord_ghost") {
			t.Fatalf("lastError = %q, want the missing order named", lastError)
		}
	})
}

// waitDLQ polls `orderflow dlq list` until the event is there.
func (h *harness) waitDLQ(eventID string) map[string]any {
	h.t.Helper()
	var last string
	for i := 0; i < 600; i++ {
		last = h.mustCLI("", "dlq", "list")
		sc := bufio.NewScanner(strings.NewReader(last))
		for sc.Scan() {
			var e map[string]any
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				h.t.Fatalf("dlq list printed a line that is not JSON: %q", sc.Text())
			}
			if e["eventId"] == eventID {
				return e
			}
		}
		sleepBriefly()
	}
	h.t.Fatalf("event %s never reached the DLQ; dlq list:\n%s", eventID, last)
	return nil
}

func TestEndToEndSQLite(t *testing.T) {
	h := newHarness(t)
	runPipelineScenarios(t, h)
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
	}
}
