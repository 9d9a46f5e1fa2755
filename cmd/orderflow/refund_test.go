package main_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
)

// refundEnv starts the Stripe account stand-in, which knows the payments of
// the refund scenario, and returns it with the harness's environment.
func refundEnv(t *testing.T) (*emulator.StripeAccountServer, []string) {
	t.Helper()
	srv := emulator.StripeAccount(t)
	srv.AddPayment("pi_rf1", "ch_rf1", 2000, "usd")
	srv.AddPayment("pi_rf2", "ch_rf2", 2000, "usd")
	return srv, []string{"STRIPE_SECRET_KEY=sk_test_refunds", "STRIPE_API_BASE=" + srv.URL}
}

func TestOrdersRefundSQLite(t *testing.T) {
	srv, env := refundEnv(t)
	h := newHarness(t, env...)
	runRefundScenario(t, h, srv)
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
	}
}

func TestOrdersRefundAWSEmulators(t *testing.T) {
	srv, env := refundEnv(t)
	h := newAWSHarness(t, env...)
	runRefundScenario(t, h, srv)
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
	}
}

// expectFail runs a command that must fail with exit code and one stderr line
// containing want.
func (h *harness) expectFail(code int, want string, args ...string) {
	h.t.Helper()
	out, errOut, got := h.cli("", args...)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if got != code || out != "" || len(lines) != 1 || !strings.Contains(lines[0], want) {
		h.t.Fatalf("orderflow %s: exit %d, stdout %q, stderr %q; want exit %d and one line with %q",
			strings.Join(args, " "), got, out, errOut, code, want)
	}
}

func runRefundScenario(t *testing.T, h *harness, srv *emulator.StripeAccountServer) {
	h.putOrder("ord_rf1", "", 2000)
	h.putOrder("ord_rf2", "", 2000)
	h.start()
	for _, n := range []string{"rf1", "rf2"} {
		ev := fixture(t, "payment_intent.succeeded.json", "pi_fixture", "pi_"+n, "ord_fixture", "ord_"+n,
			"ch_fixture", "ch_"+n, "evt_fixture_pi_succeeded", "evt_"+n+"_ok")
		if code, body := h.post(ev, testWebhookSecret); code != http.StatusOK {
			t.Fatalf("payment_succeeded: %d %s", code, body)
		}
		h.waitOrder("ord_"+n, "completed", func(o domain.Order) bool { return o.Status == domain.StatusCompleted })
	}

	h.expectFail(2, "--actor", "orders", "refund", "ord_rf1")
	h.expectFail(2, "--reason", "orders", "refund", "ord_rf1", "--actor", "adm_1", "--reason", "changed_mind")
	h.expectFail(1, "order ord_nope not found", "orders", "refund", "ord_nope", "--actor", "adm_1")

	var o domain.Order
	if err := json.Unmarshal([]byte(h.mustCLI("", "orders", "refund", "ord_rf1", "--actor", "adm_1", "--reason", "requested_by_customer")), &o); err != nil {
		t.Fatal(err)
	}
	refunds := srv.Refunds()
	if len(refunds) != 1 || refunds[0].PaymentIntentID != "pi_rf1" || refunds[0].IdempotencyKey != "orderflow-refund-ord_rf1-0" ||
		refunds[0].Metadata["orderId"] != "ord_rf1" || refunds[0].Metadata["actorId"] != "adm_1" || refunds[0].Reason != "requested_by_customer" {
		t.Fatalf("Stripe refunds = %+v", refunds)
	}
	last := o.Timeline[len(o.Timeline)-1]
	if last.Type != domain.EntryRefundRequested || last.ActorID != "adm_1" || last.Meta["refundId"] != refunds[0].ID || o.Status != domain.StatusCompleted {
		t.Fatalf("after refund: status %s, last entry %+v", o.Status, last)
	}

	h.expectFail(1, "already refunding", "orders", "refund", "ord_rf1", "--actor", "adm_2")
	if len(srv.Refunds()) != 1 {
		t.Fatal("a second refund reached Stripe")
	}
	if o := h.getOrder("ord_rf1"); o.Status != domain.StatusCompleted {
		t.Fatalf("status %s before charge.refunded", o.Status)
	}

	ev := fixture(t, "charge.refunded.json", "pi_fixture", "pi_rf1", "ord_fixture", "ord_rf1", "ch_fixture", "ch_rf1",
		"evt_fixture_charge_refunded", "evt_rf1_refund", "re_fixture", refunds[0].ID)
	if code, body := h.post(ev, testWebhookSecret); code != http.StatusOK {
		t.Fatalf("charge.refunded: %d %s", code, body)
	}
	h.waitOrder("ord_rf1", "refunded", func(o domain.Order) bool { return o.Status == domain.StatusRefunded })
	h.expectFail(1, "already refunded", "orders", "refund", "ord_rf1", "--actor", "adm_1")

	// ord_rf2 was refunded in the dashboard; its webhook has not arrived.
	srv.AddPayment("pi_rf2", "ch_rf2", 0, "usd")
	h.expectFail(1, "charge_already_refunded", "orders", "refund", "ord_rf2", "--actor", "adm_1")
	if o := h.getOrder("ord_rf2"); o.Status != domain.StatusCompleted || len(o.Timeline) != 1 {
		t.Fatalf("a refused refund changed the order: %+v", o)
	}
}
