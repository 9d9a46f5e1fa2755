package main_test

import (
	"encoding/json"
	"net/http"
	"syscall"
	"testing"

	"github.com/orderflow/orderflow/domain"
)

func TestAccessCheckSQLite(t *testing.T) {
	h := newHarness(t)
	runAccessScenario(t, h)
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
	}
}

func TestAccessCheckAWSEmulators(t *testing.T) {
	h := newAWSHarness(t)
	runAccessScenario(t, h)
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
	}
}

// runAccessScenario pays an order of usr_ok, pays one of usr_flag for the
// wrong amount (flagged), leaves one of usr_wait pending, and asks the CLI.
func runAccessScenario(t *testing.T, h *harness) {
	put := func(id, user string, amount int64) {
		b, _ := json.Marshal(map[string]any{"id": id, "userId": user, "sellerId": "sel_1", "productId": "prd_1", "amount": amount, "currency": "usd"})
		h.mustCLI(string(b), "orders", "put", "-f", "-")
	}
	put("ord_ok", "usr_ok", 2000)
	put("ord_flag", "usr_flag", 5000) // the fixture pays 2000: amount_mismatch
	put("ord_wait", "usr_wait", 2000)
	h.start()
	for _, id := range []string{"ord_ok", "ord_flag"} {
		ev := fixture(t, "payment_intent.succeeded.json", "pi_fixture", "pi_"+id, "ord_fixture", id,
			"ch_fixture", "ch_"+id, "evt_fixture_pi_succeeded", "evt_"+id+"_ok")
		if code, body := h.post(ev, testWebhookSecret); code != http.StatusOK {
			t.Fatalf("payment_succeeded: %d %s", code, body)
		}
		h.waitOrder(id, "completed", func(o domain.Order) bool { return o.Status == domain.StatusCompleted })
	}

	cases := []struct {
		name string
		env  []string
		user string
		want string
	}{
		{"allowed", nil, "usr_ok", `{"allowed":true,"orderId":"ord_ok"}`},
		{"requires review", nil, "usr_flag", `{"allowed":false,"reason":"requires_review","orderIds":["ord_flag"]}`},
		{"no completed order", nil, "usr_wait", `{"allowed":false,"reason":"no_order"}`},
		{"no order at all", nil, "usr_nobody", `{"allowed":false,"reason":"no_order"}`},
		{"kill switch", []string{"DOWNLOADS_DISABLED=true"}, "usr_ok", `{"allowed":false,"reason":"downloads_disabled"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := h.mustJSON(tc.env, "access", "check", "--user", tc.user, "--product", "prd_1")
			expectJSON(t, "access check", got, tc.want)
		})
	}
	h.expectFail(2, "--product", "access", "check", "--user", "usr_ok")

	// Clearing the flag (playbook §8) lets the download through.
	h.mustCLI("", "orders", "clear-review", "ord_flag", "--actor", "adm_1")
	expectJSON(t, "access check after clear-review", h.mustJSON(nil, "access", "check", "--user", "usr_flag", "--product", "prd_1"),
		`{"allowed":true,"orderId":"ord_flag"}`)
}
