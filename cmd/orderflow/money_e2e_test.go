package main_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// storyEvent is one fixture of testdata/events/<version>/ in a payment story,
// created at minute offset `at` of the story.
type storyEvent struct {
	file string
	at   int
	pi   string // the payment intent it is about; "" = the story's
}

type paymentStory struct {
	name          string
	events        []storyEvent
	status        domain.Status
	paymentStatus domain.PaymentStatus
}

// paymentStories are issue 8's whole stories, with the status and
// paymentStatus they end in when Stripe's own order is applied.
var paymentStories = []paymentStory{
	{"failed-succeeded-partial-full", []storyEvent{
		{"payment_intent.payment_failed.json", 1, ""}, {"payment_intent.succeeded.json", 2, ""},
		{"charge.refunded.partial.json", 3, ""}, {"charge.refunded.json", 4, ""},
	}, domain.StatusRefunded, domain.PaymentRefunded},
	{"succeeded-dispute-won", []storyEvent{
		{"payment_intent.succeeded.json", 1, ""}, {"charge.dispute.created.json", 2, ""}, {"charge.dispute.closed.won.json", 3, ""},
	}, domain.StatusCompleted, domain.PaymentPaid},
	{"succeeded-dispute-lost", []storyEvent{
		{"payment_intent.succeeded.json", 1, ""}, {"charge.dispute.created.json", 2, ""}, {"charge.dispute.closed.lost.json", 3, ""},
	}, domain.StatusRefunded, domain.PaymentRefunded},
	{"succeeded-refunded-refund-failed", []storyEvent{
		{"payment_intent.succeeded.json", 1, ""}, {"charge.refunded.json", 2, ""}, {"refund.failed.json", 3, ""},
	}, domain.StatusCompleted, domain.PaymentPaid},
	{"two-intents", []storyEvent{
		{"payment_intent.succeeded.json", 1, ""}, {"payment_intent.succeeded.json", 2, "second"},
	}, domain.StatusCompleted, domain.PaymentPaid},
	{"two-intents-second-refunded", []storyEvent{
		{"payment_intent.succeeded.json", 1, ""}, {"payment_intent.succeeded.json", 2, "second"},
		{"charge.refunded.json", 3, "second"},
	}, domain.StatusCompleted, domain.PaymentPaid},
}

var apiVersions = []string{"2020-08-27", "2022-11-15", "2024-06-20", "2025-03-31.basil"}

// storyBody rewrites a versioned fixture for one story: unique event id,
// order, payment intent, charge and created time.
func storyBody(t *testing.T, version, prefix, orderID string, i int, se storyEvent) []byte {
	t.Helper()
	pi, ch := "pi_"+prefix, "ch_"+prefix
	if se.pi != "" {
		pi, ch = "pi_"+prefix+"_"+se.pi, "ch_"+prefix+"_"+se.pi
	}
	created := time.Now().Add(time.Duration(se.at-60) * time.Minute).Unix()
	return withEventID(fixture(t, filepath.Join(version, se.file),
		"ord_fixture", orderID, "pi_fixture", pi, "ch_fixture", ch,
		`"created": 1700000000`, fmt.Sprintf(`"created": %d`, created)), fmt.Sprintf("evt_%s_%d", prefix, i))
}

// fixtureEventID is a versioned fixture's event id (evt_fixture_<what>).
var fixtureEventID = regexp.MustCompile(`"evt_fixture[A-Za-z0-9_]*"`)

// withEventID gives a fixture exactly the event id id.
func withEventID(body []byte, id string) []byte {
	return fixtureEventID.ReplaceAll(body, []byte(`"`+id+`"`))
}

// runMoneyStories delivers each story's events through `serve` in shuffled
// order with duplicates, for several seeds and every API version, and checks
// that status and paymentStatus end as in Stripe's own order (SPEC §3 "Newest
// wins") with no event applied twice.
func runMoneyStories(t *testing.T, h *harness, seeds []int64) { runMoneyStoriesWith(t, h, seeds, true) }

// runMoneyStoriesWith is runMoneyStories; withIntent false writes the orders
// without their payment intent, so a refund or dispute that arrives before
// the success (which names its order) cannot find the order until the
// success has recorded the intent.
func runMoneyStoriesWith(t *testing.T, h *harness, seeds []int64, withIntent bool) {
	type pending struct {
		orderID string
		story   paymentStory
		events  []string
	}
	var all []pending
	for _, seed := range seeds {
		rng := rand.New(rand.NewSource(seed))
		for si, s := range paymentStories {
			version := apiVersions[(int(seed)+si)%len(apiVersions)]
			prefix := fmt.Sprintf("%s_s%d_%d_%v", h.backend, seed, si, withIntent)
			orderID := "ord_" + prefix
			// Checkout writes the order with its payment intent, so events
			// without metadata (refunds, disputes) find it by the index.
			if withIntent {
				h.putOrder(orderID, "pi_"+prefix, 2000)
			} else {
				h.putOrder(orderID, "", 2000)
			}
			bodies := make([][]byte, len(s.events))
			ids := make([]string, len(s.events))
			for i, se := range s.events {
				bodies[i] = storyBody(t, version, prefix, orderID, i, se)
				ids[i] = fmt.Sprintf("evt_%s_%d", prefix, i)
			}
			order := rng.Perm(len(bodies))
			order = append(order, order[rng.Intn(len(order))]) // a duplicate delivery
			for _, i := range order {
				if code, body := h.post(bodies[i], testWebhookSecret); code != http.StatusOK {
					t.Fatalf("%s seed %d (%s): post %s: %d %s", s.name, seed, version, s.events[i].file, code, body)
				}
			}
			all = append(all, pending{orderID, s, ids})
		}
	}
	for _, p := range all {
		o := h.waitOrder(p.orderID, fmt.Sprintf("%s/%s (%s)", p.story.status, p.story.paymentStatus, p.story.name), func(o domain.Order) bool {
			return o.Status == p.story.status && o.PaymentStatus == p.story.paymentStatus && storyDone(o, p.story)
		})
		// One event may write a pair (an entry and its review flag), never
		// the same entry twice.
		seen := map[string]bool{}
		for _, e := range o.Timeline {
			if e.EventID != "" && seen[e.EventID+" "+e.Type] {
				t.Errorf("%s: event %s applied twice: %v", p.orderID, e.EventID, timelineTypes(o))
			}
			seen[e.EventID+" "+e.Type] = true
		}

	}
	// Every event was acknowledged before the wait began and the workers take
	// milliseconds each: a second look after a pause finds nothing moved.
	time.Sleep(1500 * time.Millisecond)
	for _, p := range all {
		if o := h.getOrder(p.orderID); o.Status != p.story.status || o.PaymentStatus != p.story.paymentStatus {
			t.Errorf("%s (%s) moved on to %s/%s", p.orderID, p.story.name, o.Status, o.PaymentStatus)
		}
	}
}

// storyDone adds what status alone cannot show: in the two-intents story the
// second success must have been recorded as a double charge.
func storyDone(o domain.Order, s paymentStory) bool {
	return !strings.HasPrefix(s.name, "two-intents") || countType(o, domain.EntryDuplicatePayment) >= 1
}

func countType(o domain.Order, typ string) int {
	n := 0
	for _, e := range o.Timeline {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// Issue 8, input 1, through serve and the CLI: an older failure delivered
// late leaves paymentFailedAt at the newest failure, so cleanup cancels
// nothing.
func runOutOfOrderFailures(t *testing.T, h *harness) {
	id := "ord_ooo_" + h.backend
	h.putOrder(id, "pi_ooo_"+h.backend, 2000)
	recent, old := time.Now().Add(-60*time.Second).Unix(), time.Now().Add(-2*time.Hour).Unix()
	for i, created := range []int64{recent, old} {
		body := withEventID(fixture(t, filepath.Join("2025-03-31.basil", "payment_intent.payment_failed.json"),
			"ord_fixture", id, "pi_fixture", "pi_ooo_"+h.backend,
			`"created": 1700000000`, fmt.Sprintf(`"created": %d`, created)), fmt.Sprintf("evt_ooo_%s_%d", h.backend, i))
		if code, resp := h.post(body, testWebhookSecret); code != http.StatusOK {
			t.Fatalf("post failure %d: %d %s", i, code, resp)
		}
	}
	o := h.waitOrder(id, "both failures applied", func(o domain.Order) bool { return countType(o, domain.EntryPaymentFailed) == 2 })
	if o.PaymentFailedAt == nil || o.PaymentFailedAt.Unix() != recent {
		t.Fatalf("paymentFailedAt = %v, want the newest failure (%d)", o.PaymentFailedAt, recent)
	}
	var res struct{ Cancelled *int }
	if err := json.Unmarshal([]byte(h.mustCLI("", "cleanup", "run", "--minutes", "60")), &res); err != nil || res.Cancelled == nil {
		t.Fatalf("cleanup output: %v", err)
	}
	if o := h.getOrder(id); o.Status != domain.StatusPending {
		t.Fatalf("order %s is %s after cleanup, want pending", id, o.Status)
	}
}

// Issue 8, input 4: a group id from external data (payment_intent null,
// metadata.orderId with a space, a slash and a non-ASCII letter, or 200
// characters) is accepted on every backend and applied.
func runExternalGroupIDs(t *testing.T, h *harness) {
	for i, orderID := range []string{"ORD 1001/Zoë-" + h.backend, strings.Repeat("o", 190) + h.backend} {
		h.putOrder(orderID, "", 2000)
		body := withEventID(fixture(t, filepath.Join("2025-03-31.basil", "charge.refunded.json"),
			"ord_fixture", orderID, `"payment_intent": "pi_fixture"`, `"payment_intent": null`),
			fmt.Sprintf("evt_extgroup_%s_%d", h.backend, i))
		if code, resp := h.post(body, testWebhookSecret); code != http.StatusOK {
			t.Fatalf("orderId %q: %d %s", orderID, code, resp)
		}
		h.waitOrder(orderID, "refunded", func(o domain.Order) bool { return o.Status == domain.StatusRefunded })
	}
}

func TestMoneyDecidesSQLite(t *testing.T) {
	h := newHarness(t)
	h.start()
	t.Run("stories in shuffled order", func(t *testing.T) { runMoneyStories(t, h, []int64{1, 2, 3}) })
	t.Run("stories in shuffled order, orders written without their intent", func(t *testing.T) {
		runMoneyStoriesWith(t, h, []int64{5, 6}, false)
	})
	t.Run("older failure delivered late", func(t *testing.T) { runOutOfOrderFailures(t, h) })
	t.Run("group ids from external data", func(t *testing.T) { runExternalGroupIDs(t, h) })
	t.Run("link a payment intent, then redrive", func(t *testing.T) { runRescue(t, h) })
}

func TestMoneyDecidesAWSEmulators(t *testing.T) {
	h := newAWSHarness(t)
	h.start()
	t.Run("stories in shuffled order", func(t *testing.T) { runMoneyStories(t, h, []int64{4}) })
	t.Run("older failure delivered late", func(t *testing.T) { runOutOfOrderFailures(t, h) })
	t.Run("group ids from external data", func(t *testing.T) { runExternalGroupIDs(t, h) })
	t.Run("link a payment intent, then redrive", func(t *testing.T) { runRescue(t, h) })
}

// Issue 8, input 5: an event whose order has no payment intent and no
// metadata dead-letters; `orders link-payment-intent` then `dlq redrive`
// applies it once. The command's three mistakes each get one clear line.
func runRescue(t *testing.T, h *harness) {
	id, pi := "ord_rescue_"+h.backend, "pi_rescue_"+h.backend
	h.putOrder(id, "", 2000)
	h.putOrder(id+"_other", "pi_taken_"+h.backend, 2000)
	evt := "evt_rescue_" + h.backend
	body := withEventID(fixture(t, filepath.Join("2024-06-20", "charge.dispute.created.json"), "pi_fixture", pi), evt)
	if code, resp := h.post(body, testWebhookSecret); code != http.StatusOK {
		t.Fatalf("post: %d %s", code, resp)
	}
	h.waitDLQ(evt)

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"ord_nope", pi}, 1, "order ord_nope not found"},
		{[]string{id, "ch_123"}, 2, "is not a Stripe payment intent id"},
		{[]string{id + "_other", pi}, 1, "already linked to another payment intent, pi_taken_" + h.backend + "; pass --force"},
	} {
		_, errOut, code := h.cli("", append(append([]string{"orders", "link-payment-intent"}, tc.args...), "--actor", "adm_1")...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("link %v: exit %d %q, want exit %d with %q on one line", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
	if o := h.getOrder(id + "_other"); o.StripePaymentIntentID != "pi_taken_"+h.backend || o.Version != 1 {
		t.Fatalf("a refused link changed the order: %+v", o)
	}

	var linked domain.Order
	if err := json.Unmarshal([]byte(h.mustCLI("", "orders", "link-payment-intent", id, pi, "--actor", "adm_7")), &linked); err != nil {
		t.Fatal(err)
	}
	last := linked.Timeline[len(linked.Timeline)-1]
	if linked.StripePaymentIntentID != pi || last.Type != domain.EntryPaymentIntentLinked || last.ActorID != "adm_7" || last.Meta["paymentIntentId"] != pi {
		t.Fatalf("linked order: %+v", linked)
	}
	h.mustCLI("", "dlq", "redrive")
	o := h.waitOrder(id, "dispute applied", func(o domain.Order) bool { return o.HasApplied(evt) })
	if n := countType(o, domain.EntryDisputeOpened); n != 1 || !o.RequiresReview || o.ReviewReason != domain.ReasonDisputeOpened {
		t.Fatalf("after redrive: %d dispute_opened entries, review %v %q", n, o.RequiresReview, o.ReviewReason)
	}
	h.mustCLI("", "dlq", "redrive")
	time.Sleep(time.Second)
	if again := h.getOrder(id); again.Version != o.Version {
		t.Fatalf("a second redrive changed the order: version %d → %d", o.Version, again.Version)
	}
}
