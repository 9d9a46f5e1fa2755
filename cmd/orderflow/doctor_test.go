package main_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
)

const doctorWebhookURL = "https://api.example.com/prod/webhooks/stripe"

// doctorEnv starts a Stripe stand-in with this deployment's endpoint.
func doctorEnv(t *testing.T) []string {
	t.Helper()
	srv := emulator.StripeAccount(t)
	srv.SetWebhookEndpoints(emulator.StripeWebhookEndpoint{ID: "we_1", URL: doctorWebhookURL, EnabledEvents: domain.AcceptedEventTypes()})
	return []string{"STRIPE_SECRET_KEY=sk_test_doctor", "STRIPE_API_BASE=" + srv.URL, "STRIPE_WEBHOOK_URL=" + doctorWebhookURL}
}

// doctor runs `orderflow doctor` and returns its lines by check, the exit
// code and stderr.
func (h *harness) doctor(env ...string) (map[string]map[string]any, int, string) {
	h.t.Helper()
	out, errOut, code := h.cliWith("", env, "doctor")
	checks := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || len(r) != 3 || r["check"] == nil || r["detail"] == nil {
			h.t.Fatalf("doctor printed %q, want {check, ok, detail}", sc.Text())
		}
		checks[r["check"].(string)] = r
	}
	return checks, code, errOut
}

func expectDoctor(t *testing.T, checks map[string]map[string]any, code int, errOut string, total int, red ...string) {
	t.Helper()
	if len(checks) != total {
		t.Fatalf("doctor printed %d checks, want %d: %v", len(checks), total, checks)
	}
	for name, r := range checks {
		want := true
		for _, n := range red {
			want = want && n != name
		}
		if r["ok"] != want {
			t.Errorf("%s: ok = %v, want %v (%v)", name, r["ok"], want, r["detail"])
		}
	}
	switch {
	case len(red) == 0 && (code != 0 || errOut != ""):
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, errOut)
	case len(red) > 0 && (code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, red[0])):
		t.Fatalf("exit %d, stderr %q; want 1 and one line naming %s", code, errOut, red[0])
	}
}

func TestDoctorSQLite(t *testing.T) {
	h := newHarness(t, doctorEnv(t)...)
	h.start()
	checks, code, errOut := h.doctor()
	expectDoctor(t, checks, code, errOut, 8)

	if err := os.Chmod(filepath.Join(h.dir, "orderflow.db"), 0o644); err != nil {
		t.Fatal(err)
	}
	checks, code, errOut = h.doctor()
	expectDoctor(t, checks, code, errOut, 8, "sqlite.permissions")
}

func TestDoctorAWSEmulators(t *testing.T) {
	h := newAWSHarness(t, doctorEnv(t)...)
	checks, code, errOut := h.doctor()
	expectDoctor(t, checks, code, errOut, 13)

	checks, code, errOut = h.doctor("ORDERS_TABLE=Orders-missing")
	expectDoctor(t, checks, code, errOut, 13, "dynamodb.table", "dynamodb.index.UserIndex", "dynamodb.index.SellerIndex",
		"dynamodb.index.PaymentIntentIndex", "dynamodb.index.StatusIndex")
}
