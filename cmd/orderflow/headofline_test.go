package main_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// TestNotYetEventsDoNotStallHealthyOnes is issue 12's input 1 through the real
// `serve` with the default visibility timeout and receive limit: 80 events
// for orders that do not exist yet (each its own payment intent), then one
// for an existing order. The last one used to wait about 6.5 minutes behind
// the others' in-process retries; it must be applied in seconds. The bound
// is deliberately generous for a loaded machine: the point is minutes
// against seconds, not a latency figure.
func TestNotYetEventsDoNotStallHealthyOnes(t *testing.T) {
	const unknown = 80
	const bound = 10 * time.Second
	h := newHarness(t, "ORDERFLOW_VISIBILITY_TIMEOUT=30s", "ORDERFLOW_MAX_RECEIVES=5")
	h.putOrder("ord_hol", "pi_hol", 2000)
	h.start()

	var wg sync.WaitGroup
	errs := make(chan string, unknown)
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				body := fixture(t, "payment_intent.succeeded.json",
					"evt_fixture_pi_succeeded", fmt.Sprintf("evt_hol_unknown_%d", i),
					"ord_fixture", fmt.Sprintf("ord_hol_unknown_%d", i),
					"pi_fixture", fmt.Sprintf("pi_hol_unknown_%d", i), "ch_fixture", fmt.Sprintf("ch_hol_unknown_%d", i))
				if code, resp := h.post(body, testWebhookSecret); code != http.StatusOK {
					errs <- fmt.Sprintf("event %d: %d %s", i, code, resp)
				}
			}
		}()
	}
	for i := 0; i < unknown; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("post: %s", e)
	}

	body := fixture(t, "payment_intent.succeeded.json",
		"evt_fixture_pi_succeeded", "evt_hol_ok", "ord_fixture", "ord_hol", "pi_fixture", "pi_hol", "ch_fixture", "ch_hol")
	if code, resp := h.post(body, testWebhookSecret); code != http.StatusOK {
		t.Fatalf("post healthy event: %d %s", code, resp)
	}
	posted := time.Now()
	for {
		o := h.getOrder("ord_hol")
		if o.Status == domain.StatusCompleted && countEvent(o, "evt_hol_ok") == 1 {
			t.Logf("healthy event applied %s after it was accepted, behind %d not-yet events", time.Since(posted).Round(time.Millisecond), unknown)
			break
		}
		if time.Since(posted) > bound {
			t.Fatalf("healthy event not applied within %s behind %d not-yet events (head-of-line stall); order: %s %v",
				bound, unknown, o.Status, timelineTypes(o))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
