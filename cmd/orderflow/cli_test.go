package main_test

import (
	"strings"
	"testing"
)

func TestCLIErrorsAreOneClearLine(t *testing.T) {
	h := newHarness(t)
	h.putOrder("ord_1", "", 2000)
	h.mustCLI("", "orders", "mark-refunded", "ord_1", "--actor", "adm_1")

	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"unknown command", nil, []string{"ordres", "list"}, 2, "unknown command"},
		{"unknown subcommand", nil, []string{"orders", "frob"}, 2, "unknown command"},
		{"missing subcommand", nil, []string{"orders"}, 2, "needs a subcommand"},
		{"unknown flag", nil, []string{"orders", "list", "--colour"}, 2, "unknown flag"},
		{"missing id", nil, []string{"orders", "get"}, 2, "one order id"},
		{"bad status", nil, []string{"orders", "list", "--status", "shipped"}, 2, "--status"},
		{"missing actor", nil, []string{"orders", "clear-review", "ord_1"}, 2, "--actor"},
		{"put without file", nil, []string{"orders", "put"}, 2, "-f"},
		{"bad minutes", nil, []string{"cleanup", "run", "--minutes", "0"}, 2, "--minutes"},
		{"unknown order", nil, []string{"orders", "get", "ord_nope"}, 1, "order ord_nope not found"},
		{"clear unflagged", nil, []string{"orders", "clear-review", "ord_1", "--actor", "adm_1"}, 1, "not flagged"},
		{"already refunded", nil, []string{"orders", "mark-refunded", "ord_1", "--actor", "adm_1"}, 1, "already refunded"},
		{"malformed config", []string{"ORDERFLOW_MAX_RECEIVES=lots"}, []string{"orders", "get", "ord_1"}, 1, "ORDERFLOW_MAX_RECEIVES"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := h.cliWith("", tc.env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout not empty on error: %q", out)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr = %q, want one line containing %q", errOut, tc.want)
			}
		})
	}

	// Bad input changed nothing.
	o := h.getOrder("ord_1")
	if o.Version != 2 || len(o.Timeline) != 1 {
		t.Fatalf("order changed by failing commands: version %d, %d timeline entries", o.Version, len(o.Timeline))
	}
}

func TestOrdersPutRejectsDuplicatesAndBadRecords(t *testing.T) {
	h := newHarness(t)
	h.putOrder("ord_1", "", 2000)
	if _, errOut, code := h.cli(`{"id":"ord_1","userId":"u","amount":1,"currency":"usd"}`, "orders", "put", "-f", "-"); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("duplicate put: exit %d %q", code, errOut)
	}
	if _, errOut, code := h.cli(`{"id":"ord_2","userId":"u","amount":1,"currency":"US Dollars"}`, "orders", "put", "-f", "-"); code != 1 || !strings.Contains(errOut, "currency") {
		t.Fatalf("bad currency: exit %d %q", code, errOut)
	}
	if _, errOut, code := h.cli(`{"id":"ord_3","userId":"u","amount":1,"currency":"usd","colour":"red"}`, "orders", "put", "-f", "-"); code != 1 || !strings.Contains(errOut, "colour") {
		t.Fatalf("unknown field: exit %d %q", code, errOut)
	}
	if _, _, code := h.cli("", "orders", "get", "ord_2"); code != 1 {
		t.Fatal("a rejected order was stored")
	}
}
