package domain_test

import (
	"errors"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// TestRandomStoriesFollowTheMoney generates payment stories at random (one or
// two intents; failures, refunds, partial and repeated refunds, refund
// failures, disputes won, lost and warning-closed; with and without
// metadata.orderId; an order written with no intent, its own or an abandoned
// one) and applies each in every arrival order, with a duplicate delivery
// after every event, routing as the worker does (an event that names no
// order waits until the order holds its intent). The final status,
// paymentStatus, payment intent and charge must be those of Stripe's own
// order, and nothing may wait for ever (SPEC §3 "Which payment", "Newest
// wins"). Adapted from a reviewer's harness that found the cases the named
// stories now cover. ORDERFLOW_STORIES sets how many (default 150; the
// reviewer ran 3,000).
func TestRandomStoriesFollowTheMoney(t *testing.T) {
	t.Parallel()
	n := 150
	if v, err := strconv.Atoi(os.Getenv("ORDERFLOW_STORIES")); err == nil && v > 0 {
		n = v
	}
	r := rand.New(rand.NewSource(7))
	reviewDiffers := 0
	for range n {
		evs, written := randomStory(r)
		if len(evs) > 7 {
			continue
		}
		want := finalOf(runStory(t, written, sortedByCreated(evs), false))
		permutations(len(evs), func(p []int) {
			arrival := make([]domain.Event, len(p))
			var names []string
			for i, j := range p {
				arrival[i] = evs[j]
				names = append(names, evs[j].ID)
			}
			o := runStory(t, written, arrival, true)
			got := finalOf(o)
			if got.money != want.money {
				t.Errorf("written with %q, arrival %v:\n got  %+v\n want %+v (Stripe's order)", written, names, got.money, want.money)
			}
			if got.review != want.review {
				reviewDiffers++
			}
		})
		if t.Failed() {
			return
		}
	}
	// SPEC §3 promises status and paymentStatus; the review flag is checked
	// in the named stories only, and how often it differs is reported.
	t.Logf("requiresReview differed from Stripe's order in %d arrival orders", reviewDiffers)
}

type finalState struct {
	money  struct{ status, paymentStatus, intent, charge, waiting string }
	review string
}

func finalOf(o storyResult) finalState {
	var f finalState
	f.money.status, f.money.paymentStatus = string(o.order.Status), string(o.order.PaymentStatus)
	f.money.intent, f.money.charge = o.order.StripePaymentIntentID, o.order.StripeChargeID
	f.money.waiting = strings.Join(o.waiting, ",")
	if o.order.RequiresReview {
		f.review = o.order.ReviewReason
	}
	return f
}

type storyResult struct {
	order   domain.Order
	waiting []string
}

// runStory applies the events in arrival order to an order written with
// intent; routed holds back an event the worker could not find the order
// for until the order holds its intent, as the queue redelivers it.
func runStory(t *testing.T, intent string, arrival []domain.Event, routed bool) storyResult {
	t.Helper()
	o := pendingOrder(2000)
	o.StripePaymentIntentID = intent
	var waiting []domain.Event
	try := func(ev domain.Event) bool {
		if routed && !findsOrder(o, ev) {
			return false
		}
		tr, err := domain.TriggerForEvent(ev)
		if err == nil {
			_, err = domain.Apply(&o, domain.Change{Trigger: tr, Event: &ev, Actor: domain.ActorStripe, At: now})
		}
		if err != nil && !errors.Is(err, domain.ErrAlreadyApplied) {
			t.Fatalf("%s: %v", ev.ID, err)
		}
		return true
	}
	for i, ev := range arrival {
		if !try(ev) {
			waiting = append(waiting, ev)
			continue
		}
		for progress := true; progress; {
			progress = false
			for j := 0; j < len(waiting); j++ {
				if try(waiting[j]) {
					waiting = append(waiting[:j], waiting[j+1:]...)
					progress, j = true, j-1
				}
			}
		}
		if routed && i > 0 {
			try(arrival[0]) // a duplicate delivery changes nothing
		}
	}
	res := storyResult{order: o}
	for _, ev := range waiting {
		res.waiting = append(res.waiting, ev.ID)
	}
	return res
}

// findsOrder is the worker's lookup in a world of one order (workers/event.go).
func findsOrder(o domain.Order, ev domain.Event) bool {
	if ev.OrderID() != "" {
		return true
	}
	pi := ev.PaymentIntentID()
	switch {
	case pi != "" && pi == o.StripePaymentIntentID:
		return true
	case pi != "" && !ev.AboutPaymentIntent():
		for _, other := range o.OtherPaymentIntentIDs {
			if other == pi {
				return true
			}
		}
	case pi == "" && ev.ChargeID() != "":
		return ev.ChargeID() == o.StripeChargeID
	}
	return false
}

func sortedByCreated(evs []domain.Event) []domain.Event {
	out := append([]domain.Event(nil), evs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// randomStory is one or two intents' lives, seconds apart, and the intent
// the order is written with.
func randomStory(r *rand.Rand) ([]domain.Event, string) {
	var evs []domain.Event
	sec := 1
	next := func() time.Time { sec += 1 + r.Intn(3); return now.Add(time.Duration(sec-3600) * time.Second) }
	noMeta := func(e domain.Event, keep bool) domain.Event {
		if !keep {
			e.Object.Metadata = map[string]string{}
		}
		return e
	}
	intents := []string{"pi_1"}
	if r.Intn(2) == 0 {
		intents = append(intents, "pi_2")
	}
	for _, in := range intents {
		if r.Intn(3) == 0 {
			e := pi("f_"+in, domain.EventPaymentFailed, in, next(), 2000, 0)
			evs = append(evs, e)
		}
		evs = append(evs, pi("s_"+in, domain.EventPaymentSucceeded, in, next(), 2000, 2000))
	}
	lives := [][]string{{"rf"}, {"rp", "rf"}, {"rf", "rff"}, {"rf", "rff", "rf2"}, {"do", "dw"}, {"do", "dl"}, {"do"}, {"wo", "wc"}, {}}
	for _, in := range intents {
		for _, k := range lives[r.Intn(len(lives))] {
			at, id, meta := next(), k+"_"+in, r.Intn(2) == 0
			switch k {
			case "rf", "rf2":
				evs = append(evs, noMeta(charge(id, in, at, 2000, 2000, 2000, true), meta))
			case "rp":
				evs = append(evs, noMeta(charge(id, in, at, 2000, 2000, 500, false), meta))
			case "rff":
				evs = append(evs, refund(id, domain.EventRefundFailed, in, at, "failed"))
			case "do":
				evs = append(evs, dispute(id, domain.EventDisputeCreated, in, at, "needs_response"))
			case "wo":
				evs = append(evs, dispute(id, domain.EventDisputeCreated, in, at, "warning_needs_response"))
			case "dw":
				evs = append(evs, dispute(id, domain.EventDisputeClosed, in, at, "won"))
			case "dl":
				evs = append(evs, dispute(id, domain.EventDisputeClosed, in, at, "lost"))
			case "wc":
				evs = append(evs, dispute(id, domain.EventDisputeClosed, in, at, "warning_closed"))
			}
		}
	}
	return evs, []string{"", "pi_1", "pi_0"}[r.Intn(3)]
}
