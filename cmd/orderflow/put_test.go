package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOrdersPutRefusesLooseInput: every case is one clear line on stderr,
// exit 1, nothing on stdout and nothing stored (issue 12, item 4).
func TestOrdersPutRefusesLooseInput(t *testing.T) {
	h := newHarness(t)
	const order = `{"id":"ord_1","userId":"usr_1","sellerId":"sel_1","productId":"prd_1","amount":2000,"currency":"usd"}`
	withID := func(id string) string { return strings.Replace(order, `"ord_1"`, id, 1) }
	big := filepath.Join(h.dir, "big.json")
	// Valid JSON padded with spaces: the size alone is the problem.
	if err := os.WriteFile(big, []byte(order+strings.Repeat(" ", 1<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, stdin, file, want string
	}{
		{"trailing garbage", order + " garbage", "-", "data after the JSON value at byte"},
		{"two orders", order + order, "-", "data after the JSON value"},
		{"key in another case", strings.Replace(order, `"id"`, `"ID"`, 1), "-", `key "ID" matches field "id" only when case is ignored`},
		{"escaped key in another case", strings.Replace(order, `"userId"`, `"\u0055serId"`, 1), "-", `key "UserId" matches field "userId"`},
		{"repeated key", strings.Replace(order, `"amount":2000`, `"amount":2000,"amount":1`, 1), "-", `key "amount" appears twice`},
		{"unknown key", strings.Replace(order, `}`, `,"colour":"red"}`, 1), "-", `unknown key "colour"`},
		{"leading space in id", withID(`" ord_1"`), "-", "id has leading or trailing space"},
		{"control character in id", withID(`"ord\u00071"`), "-", "id holds control character U+0007"},
		{"bidi override in id", withID(`"ord_\u202e1"`), "-", "id holds bidi control U+202E"},
		{"bidi isolate in sellerId", strings.Replace(order, `"sel_1"`, `"sel\u2067_1"`, 1), "-", "sellerId holds bidi control U+2067"},
		{"invalid UTF-8 in id", withID("\"ord_\xff\""), "-", "not valid UTF-8 at byte 11"},
		{"escaped lone surrogate in id", withID(`"ord_\udc00"`), "-", `lone UTF-16 surrogate \udc00 in a string at $.id`},
		{"500 KB id", withID(`"` + strings.Repeat("a", 500_000) + `"`), "-", "id is 500000 bytes, more than 1024"},
		{"stdin over 1 MiB", order + strings.Repeat(" ", 1<<20), "-", "standard input is larger than 1 MiB"},
		{"file over 1 MiB", "", big, "big.json is larger than 1 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := h.cli(tc.stdin, "orders", "put", "-f", tc.file)
			if code != 1 {
				t.Fatalf("exit %d, want 1 (stderr %q)", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout not empty on error: %q", out)
			}
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr = %.300q, want one line containing %q", errOut, tc.want)
			}
			if len(errOut) > 400 {
				t.Errorf("stderr is %d bytes; the error must not echo the input", len(errOut))
			}
		})
	}
	// The same order, well formed, is taken; it is then the only one.
	h.mustCLI(order, "orders", "put", "-f", "-")
	if out := h.mustCLI("", "orders", "list"); strings.Count(out, "\n") != 1 {
		t.Fatalf("refused orders were stored: %.300q", out)
	}
}

// orders put refuses what only orderflow writes, and status pairs no
// transition produces; nothing is stored.
func TestOrdersPutRefusesServerOwnedFields(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ extra, want string }{
		{`"appliedEvents":["evt_1"]`, "appliedEvents is written by orderflow"},
		{`"version":99`, "version is written by orderflow"},
		{`"otherPaymentIntentIds":["pi_x"]`, "otherPaymentIntentIds is written by orderflow"},
		{`"timeline":[{"type":"imported","at":"2024-01-01T00:00:00Z","meta":{"note":"` + strings.Repeat("x", 500<<10) + `"}}]`, "DynamoDB items stop at 400 KB"},
		{`"status":"refunded","paymentStatus":"pending"`, "a pair no transition produces"},
		{`"requiresReview":true`, "requiresReview needs a reviewReason"},
		{`"reviewReason":"amount_mismatch"`, "reviewReason needs requiresReview"},
		{`"stripePaymentIntentId":"ch_notpi"`, "not a Stripe payment intent id"},
	} {
		body := `{"id":"ord_srv","userId":"usr_1","amount":100,"currency":"usd",` + tc.extra + `}`
		_, errOut, code := h.cli(body, "orders", "put", "-f", "-")
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d %q, want exit 1 and one line with %q", tc.extra, code, errOut, tc.want)
		}
	}
	if _, errOut, code := h.cli("", "orders", "get", "ord_srv"); code == 0 {
		t.Fatalf("a refused order was stored: %s", errOut)
	}
}

// A payment belongs to one order: orders put refuses a second order with the
// intent of an existing one (an event found by its intent would otherwise go
// to whichever order the index lists first), and orders list refuses an
// empty filter value, which would list the whole table.
func TestOrdersPutRefusesATakenPaymentIntentAndListAnEmptyFilter(t *testing.T) {
	h := newHarness(t)
	h.putOrder("ord_first", "pi_shared", 1000)
	body := `{"id":"ord_second","userId":"usr_2","amount":100,"currency":"usd","stripePaymentIntentId":"pi_shared"}`
	_, errOut, code := h.cli(body, "orders", "put", "-f", "-")
	if code != 1 || !strings.Contains(errOut, "payment intent pi_shared is already the payment of order ord_first") {
		t.Fatalf("second order with pi_shared: exit %d %q", code, errOut)
	}
	if _, _, code := h.cli("", "orders", "get", "ord_second"); code == 0 {
		t.Fatal("the refused order was stored")
	}
	_, errOut, code = h.cli("", "orders", "list", "--payment-intent", "")
	if code == 0 || !strings.Contains(errOut, "--payment-intent needs a value") {
		t.Fatalf("list --payment-intent \"\": exit %d %q, want a usage error", code, errOut)
	}
}
