package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
)

// opsEvents are the Stripe events the operations scenario uses, all about
// order ord_ops1 (payment intent pi_ops1) except ghost, whose order never
// exists.
type opsEvents struct {
	ok, partial, full, customer, ghost []byte
}

func newOpsEvents(t *testing.T) opsEvents {
	t.Helper()
	// Created an hour ago, inside any reconcile window the test uses.
	created := fmt.Sprintf(`"created": %d`, time.Now().Add(-time.Hour).Unix())
	ops1 := []string{"pi_fixture", "pi_ops1", "ord_fixture", "ord_ops1", "ch_fixture", "ch_ops1", `"created": 1700000000`, created}
	return opsEvents{
		ok:       fixture(t, "payment_intent.succeeded.json", append(ops1, "evt_fixture_pi_succeeded", "evt_ops1_ok")...),
		partial:  fixture(t, "charge.refunded.partial.json", append(ops1, "evt_fixture_charge_refunded_partial", "evt_ops1_partial")...),
		full:     fixture(t, "charge.refunded.json", append(ops1, "evt_fixture_charge_refunded", "evt_ops1_refund")...),
		customer: fixture(t, "customer.created.json", `"created": 1700000000`, created),
		ghost: fixture(t, "payment_intent.payment_failed.json", "pi_fixture", "pi_never", "ord_fixture", "ord_never",
			"ch_fixture", "ch_never", "evt_fixture_pi_failed", "evt_ops2_failed", `"created": 1700000000`, created),
	}
}

// opsEnv starts the Stripe events stand-in and returns the environment the
// scenario's harness needs: one replay allowed, the stand-in as Stripe API.
func opsEnv(t *testing.T, ev opsEvents) []string {
	t.Helper()
	srv := emulator.StripeEvents(t,
		emulator.StripeEvent{Raw: ev.ok},
		emulator.StripeEvent{Raw: ev.partial},
		emulator.StripeEvent{Raw: ev.customer},
		emulator.StripeEvent{Raw: ev.full, Delivered: true},
	)
	return []string{"MAX_REPLAYS=1", "STRIPE_SECRET_KEY=sk_test_123", "STRIPE_API_BASE=" + srv.URL}
}

func TestOpsSQLite(t *testing.T) {
	ev := newOpsEvents(t)
	h := newHarness(t, opsEnv(t, ev)...)
	runOpsScenario(t, h, ev)
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
	}
}

func TestOpsAWSEmulators(t *testing.T) {
	ev := newOpsEvents(t)
	h := newAWSHarness(t, opsEnv(t, ev)...)
	runOpsScenario(t, h, ev)
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
	}
}

// mustJSON runs a command that must succeed and decodes its one JSON line.
func (h *harness) mustJSON(env []string, args ...string) map[string]any {
	h.t.Helper()
	out, errOut, code := h.cliWith("", env, args...)
	if code != 0 {
		h.t.Fatalf("orderflow %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		h.t.Fatalf("orderflow %s printed %q, want one JSON line", strings.Join(args, " "), out)
	}
	return m
}

// expectJSON fails unless got has exactly the wanted fields and values.
func expectJSON(t *testing.T, what string, got map[string]any, want string) {
	t.Helper()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(w) {
		t.Fatalf("%s printed %v, want %v", what, got, w)
	}
}

// dlqList returns `dlq list` as entries keyed by event id.
func (h *harness) dlqList() map[string]map[string]any {
	h.t.Helper()
	out := h.mustCLI("", "dlq", "list")
	entries := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			h.t.Fatalf("dlq list printed a line that is not JSON: %q", sc.Text())
		}
		entries[e["eventId"].(string)] = e
	}
	return entries
}

// stable is the part of a dlq list entry that a dry run must not change
// (receiving for a look raises receiveCount, as it does on SQS).
func stable(entries map[string]map[string]any) string {
	var keys []string
	for id, e := range entries {
		keys = append(keys, fmt.Sprint(id, e["messageId"], e["group"], e["replayCount"], e["eventType"]))
	}
	slices.Sort(keys)
	return strings.Join(keys, "\n")
}

// runOpsScenario is the operations story shared by both backends: dead
// letters, redrive, parking, replay and reconcile from the Stripe API, the
// payment-intent backfill and the errors an operator can make, all through
// the real binary.
func runOpsScenario(t *testing.T, h *harness, ev opsEvents) {
	h.start()
	var none []string

	t.Run("events for missing orders dead-letter; redrive moves them once the order exists", func(t *testing.T) {
		for _, body := range [][]byte{ev.ok, ev.ghost} {
			if code, resp := h.post(body, testWebhookSecret); code != http.StatusOK {
				t.Fatalf("post: %d %s", code, resp)
			}
		}
		h.waitDLQ("evt_ops1_ok")
		h.waitDLQ("evt_ops2_failed")
		before := h.dlqList()
		for _, id := range []string{"evt_ops1_ok", "evt_ops2_failed"} {
			if e := before[id]; e == nil || e["replayCount"] != float64(0) {
				t.Fatalf("dlq list entry for %s = %v", id, e)
			}
		}
		h.putOrder("ord_ops1", "", 2000)

		dry := h.mustJSON(none, "dlq", "redrive", "--dry-run")
		expectJSON(t, "dlq redrive --dry-run", dry, `{"moved":2,"parked":0,"remaining":2}`)
		if after := h.dlqList(); stable(after) != stable(before) {
			t.Fatalf("dry run changed the DLQ:\nbefore %s\nafter  %s", stable(before), stable(after))
		}
		if o := h.getOrder("ord_ops1"); o.Version != 1 {
			t.Fatalf("dry run changed the order: %+v", o)
		}

		sum := h.mustJSON(none, "dlq", "redrive")
		expectJSON(t, "dlq redrive", sum, `{"moved":2,"parked":0,"remaining":0}`)
		o := h.waitOrder("ord_ops1", "completed", func(o domain.Order) bool { return o.Status == domain.StatusCompleted })
		if n := countEvent(o, "evt_ops1_ok"); n != 1 {
			t.Fatalf("evt_ops1_ok has %d timeline entries, want 1", n)
		}
	})

	t.Run("a message that keeps failing is parked after MAX_REPLAYS", func(t *testing.T) {
		// Replayed once, it fails the receive limit again and comes back.
		e := h.waitDLQ("evt_ops2_failed")
		if e["replayCount"] != float64(1) {
			t.Fatalf("dlq entry after one replay = %v, want replayCount 1", e)
		}
		sum := h.mustJSON(none, "dlq", "redrive")
		expectJSON(t, "dlq redrive", sum, `{"moved":0,"parked":1,"remaining":1}`)
		if after := h.dlqList(); after["evt_ops2_failed"] == nil || len(after) != 1 {
			t.Fatalf("parked message not in the DLQ: %v", after)
		}
	})

	t.Run("replay and reconcile from the Stripe API apply each event once", func(t *testing.T) {
		got := h.mustJSON(none, "events", "replay", "evt_ops1_ok")
		expectJSON(t, "events replay", got, `{"eventId":"evt_ops1_ok","eventType":"payment_intent.succeeded","enqueued":true}`)
		got = h.mustJSON(none, "events", "reconcile", "--since", "72h")
		expectJSON(t, "events reconcile", got, `{"listed":3,"enqueued":2,"ignored":1}`)
		h.waitOrder("ord_ops1", "partial refund noted", func(o domain.Order) bool { return countEvent(o, "evt_ops1_partial") > 0 })

		// Everything again, then a last event of the same payment: FIFO
		// order means the repeats were handled before it is applied.
		h.mustJSON(none, "events", "replay", "evt_ops1_partial")
		h.mustJSON(none, "events", "replay", "evt_ops1_ok")
		got = h.mustJSON(none, "events", "reconcile", "--since", "3d")
		expectJSON(t, "second events reconcile", got, `{"listed":3,"enqueued":2,"ignored":1}`)
		h.mustJSON(none, "events", "replay", "evt_ops1_refund")
		o := h.waitOrder("ord_ops1", "refunded", func(o domain.Order) bool { return o.Status == domain.StatusRefunded })
		want := []string{domain.EntryPaymentSucceeded, domain.EntryRefundPartialIgnored, domain.EntryRefundFull}
		if got := timelineTypes(o); !slices.Equal(got, want) {
			t.Fatalf("timeline = %v, want %v", got, want)
		}
		for _, id := range []string{"evt_ops1_ok", "evt_ops1_partial", "evt_ops1_refund"} {
			if n := countEvent(o, id); n != 1 {
				t.Errorf("event %s has %d timeline entries, want 1", id, n)
			}
		}
	})

	t.Run("stripe-mock accepts the requests; its fixture event types are ignored", func(t *testing.T) {
		env := []string{"STRIPE_API_BASE=" + emulator.StripeMock(t)}
		got := h.mustJSON(env, "events", "replay", "evt_mock_1")
		if got["eventId"] != "evt_mock_1" || got["enqueued"] != false || got["ignored"] != true {
			t.Fatalf("events replay against stripe-mock printed %v", got)
		}
		got = h.mustJSON(env, "events", "reconcile", "--since", "72h")
		if got["listed"] == float64(0) || got["enqueued"] != float64(0) || got["ignored"] != got["listed"] {
			t.Fatalf("events reconcile against stripe-mock printed %v", got)
		}
	})

	t.Run("backfill sets stripePaymentIntentId from the timeline", func(t *testing.T) {
		entry := map[string]any{"type": domain.EntryPaymentSucceeded, "at": time.Now().UTC(), "actor": "stripe", "actorType": "system",
			"eventId": "evt_bf", "meta": map[string]any{"paymentIntentId": "pi_bf", "chargeId": "ch_bf"}}
		legacy, _ := json.Marshal(map[string]any{"id": "ord_bf", "userId": "usr_bf", "sellerId": "sel_1", "productId": "prd_1",
			"amount": 2000, "currency": "usd", "status": "completed", "paymentStatus": "paid", "timeline": []any{entry}})
		h.mustCLI(string(legacy), "orders", "put", "-f", "-")
		h.putOrder("ord_plain", "", 1000)

		dry := h.mustJSON(none, "orders", "backfill-payment-intents", "--dry-run")
		expectJSON(t, "backfill --dry-run", dry, `{"scanned":3,"updated":1,"skipped":1,"dryRun":true}`)
		if o := h.getOrder("ord_bf"); o.StripePaymentIntentID != "" || o.Version != 1 {
			t.Fatalf("dry run changed the order: %+v", o)
		}
		run := h.mustJSON(none, "orders", "backfill-payment-intents")
		expectJSON(t, "backfill", run, `{"scanned":3,"updated":1,"skipped":1,"dryRun":false}`)
		o := h.getOrder("ord_bf")
		if o.StripePaymentIntentID != "pi_bf" || len(o.Timeline) != 1 {
			t.Fatalf("after backfill: stripePaymentIntentId %q, %d timeline entries", o.StripePaymentIntentID, len(o.Timeline))
		}
		if listed := h.mustCLI("", "orders", "list", "--payment-intent", "pi_bf"); !strings.Contains(listed, `"id":"ord_bf"`) {
			t.Fatalf("orders list --payment-intent pi_bf:\n%s", listed)
		}
	})

	t.Run("bad arguments fail with one clear line", func(t *testing.T) {
		quiet := []string{"LOG_LEVEL=error"}
		cases := []struct {
			name string
			args []string
			code int
			want string
		}{
			{"unknown order", []string{"orders", "clear-review", "ord_nope", "--actor", "adm_1"}, 1, "order ord_nope not found"},
			{"unknown event", []string{"events", "replay", "evt_nope"}, 1, "stripe event evt_nope not found"},
			{"not flagged", []string{"orders", "clear-review", "ord_ops1", "--actor", "adm_1"}, 1, "not flagged"},
			{"already refunded", []string{"orders", "mark-refunded", "ord_ops1", "--actor", "adm_1"}, 1, "already refunded"},
			{"bad duration", []string{"events", "reconcile", "--since", "soon"}, 2, `--since "soon" is not a duration`},
			{"negative duration", []string{"events", "reconcile", "--since", "-3h"}, 2, "positive"},
			{"over 30 days", []string{"events", "reconcile", "--since", "721h"}, 2, "720h"},
			{"no window", []string{"events", "reconcile"}, 2, "--since"},
			{"not an event id", []string{"events", "replay", "ord_ops1"}, 2, "not a Stripe event id"},
			{"no event id", []string{"events", "replay"}, 2, "one Stripe event id"},
			{"negative limit", []string{"dlq", "redrive", "--limit", "-1"}, 2, "--limit"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				out, errOut, code := h.cliWith("", quiet, tc.args...)
				if code != tc.code {
					t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
				}
				if out != "" {
					t.Errorf("stdout not empty on error: %q", out)
				}
				lines := strings.Split(strings.TrimSpace(errOut), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], tc.want) || strings.Contains(errOut, "sk_test_123") {
					t.Fatalf("stderr = %q, want one line containing %q", errOut, tc.want)
				}
			})
		}
	})
}

func TestOpsCommandsHaveExamples(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{
		{"dlq", "redrive"}, {"events", "replay"}, {"events", "reconcile"}, {"orders", "backfill-payment-intents"}, {"events"},
	} {
		out := h.mustCLI("", append(args, "--help")...)
		if !strings.Contains(out, "Example") {
			t.Errorf("orderflow %s --help has no example:\n%s", strings.Join(args, " "), out)
		}
	}
}
