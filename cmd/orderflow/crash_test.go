package main_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// TestCrashMidBurstAppliesEveryEventOnce kills `orderflow serve` with SIGKILL
// while a burst of events (with duplicates) is arriving, restarts it, lets
// Stripe's retry of every unacknowledged delivery arrive, and checks that each
// event changed its order exactly once.
func TestCrashMidBurstAppliesEveryEventOnce(t *testing.T) {
	const orders, refundsPerOrder = 8, 5
	h := newHarness(t)
	for i := 0; i < orders; i++ {
		h.putOrder(fmt.Sprintf("ord_%d", i), "", 2000)
	}

	// Each partial refund adds one timeline entry whatever the order's state,
	// so the final timeline counts applications exactly.
	type delivery struct {
		orderID, eventID string
		body             []byte
	}
	var deliveries []delivery
	for i := 0; i < orders; i++ {
		for j := 0; j < refundsPerOrder; j++ {
			eid := fmt.Sprintf("evt_crash_%d_%d", i, j)
			body := fixture(t, "charge.refunded.partial.json",
				"evt_fixture_charge_refunded_partial", eid, "ord_fixture", fmt.Sprintf("ord_%d", i),
				"pi_fixture", fmt.Sprintf("pi_%d", i), "ch_fixture", fmt.Sprintf("ch_%d", i))
			d := delivery{fmt.Sprintf("ord_%d", i), eid, body}
			deliveries = append(deliveries, d, d) // every event delivered twice
		}
	}
	rand.Shuffle(len(deliveries), func(a, b int) { deliveries[a], deliveries[b] = deliveries[b], deliveries[a] })

	h.start()
	acked := make([]atomic.Bool, len(deliveries))
	var sent atomic.Int32
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				code, _ := h.post(deliveries[i].body, testWebhookSecret)
				acked[i].Store(code == http.StatusOK)
				sent.Add(1)
			}
		}()
	}
	killed := false
	for i := range deliveries {
		if !killed && i == len(deliveries)/2 {
			// Kill while requests are in flight and workers are applying.
			if err := h.stop(syscall.SIGKILL); err == nil {
				t.Fatal("serve exited cleanly although it was killed")
			}
			killed = true
		}
		work <- i
	}
	close(work)
	wg.Wait()

	h.start()
	// Stripe retries every delivery that was not answered 200.
	retried := 0
	for i, d := range deliveries {
		if acked[i].Load() {
			continue
		}
		retried++
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body := h.post(d.body, testWebhookSecret)
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redelivery of %s never accepted: %d %s", d.eventID, code, body)
			}
			sleepBriefly()
		}
	}
	if retried == 0 {
		t.Log("warning: the kill landed between requests; every delivery was acknowledged before it")
	}

	for i := 0; i < orders; i++ {
		id := fmt.Sprintf("ord_%d", i)
		o := h.waitOrder(id, "all refunds applied", func(o domain.Order) bool { return len(o.Timeline) >= refundsPerOrder })
		for j := 0; j < refundsPerOrder; j++ {
			if n := countEvent(o, fmt.Sprintf("evt_crash_%d_%d", i, j)); n != 1 {
				t.Errorf("%s: event %d applied %d times", id, j, n)
			}
		}
		if len(o.Timeline) != refundsPerOrder {
			t.Errorf("%s: %d timeline entries, want %d", id, len(o.Timeline), refundsPerOrder)
		}
	}
	// A little later nothing more has been applied (no late duplicates).
	time.Sleep(3 * time.Second)
	for i := 0; i < orders; i++ {
		if o := h.getOrder(fmt.Sprintf("ord_%d", i)); len(o.Timeline) != refundsPerOrder {
			t.Errorf("ord_%d: %d timeline entries after settling, want %d", i, len(o.Timeline), refundsPerOrder)
		}
	}
	t.Logf("%d deliveries, %d unacknowledged by the killed process and retried", len(deliveries), retried)
}
