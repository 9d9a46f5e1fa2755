package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/domain"
)

func TestParseEvent(t *testing.T) {
	t.Parallel()
	good := `{"id":"evt_1","object":"event","api_version":"2019-02-19","created":1700000000,"type":"charge.refunded",
	  "data":{"object":{"id":"ch_1","object":"charge","amount":2000,"amount_refunded":2000,"currency":"USD",
	  "payment_intent":{"id":"pi_9","object":"payment_intent"},"metadata":{"orderId":"ord_7"}}}}`
	ev, err := domain.ParseEvent([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if ev.PaymentIntentID() != "pi_9" || ev.ChargeID() != "ch_1" || ev.OrderID() != "ord_7" || ev.GroupID() != "pi_9" {
		t.Fatalf("parsed %+v", ev)
	}
	if ev.Object.Currency != "usd" || ev.APIVersion != "2019-02-19" || ev.Created.Unix() != 1700000000 {
		t.Fatalf("parsed %+v", ev)
	}

	bad := map[string]string{
		"empty":        ``,
		"not json":     `hello`,
		"array":        `[1,2]`,
		"no id":        `{"object":"event","type":"charge.refunded","data":{"object":{}}}`,
		"no type":      `{"id":"evt_1","object":"event","data":{"object":{}}}`,
		"no data":      `{"id":"evt_1","object":"event","type":"charge.refunded"}`,
		"other object": `{"id":"ch_1","object":"charge","type":"x","data":{"object":{}}}`,
		"bad field":    `{"id":"evt_1","type":"charge.refunded","data":{"object":{"amount":"lots"}}}`,
	}
	for name, body := range bad {
		if _, err := domain.ParseEvent([]byte(body)); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestGroupIDFallbacks(t *testing.T) {
	t.Parallel()
	noPI := domain.Event{Type: domain.EventChargeRefunded, Object: domain.EventObject{ID: "ch_1", Object: "charge", Metadata: map[string]string{"orderId": "ord_1"}}}
	if g := noPI.GroupID(); g != "ord_1" {
		t.Errorf("group = %s, want the order id", g)
	}
	bare := domain.Event{Type: domain.EventChargeRefunded, Object: domain.EventObject{ID: "ch_2", Object: "charge"}}
	if g := bare.GroupID(); g != "ch_2" {
		t.Errorf("group = %s, want the object id", g)
	}
}

// Issue 12, input 3: a handled type whose object has no id can never be
// applied: a permanent ErrInvalid, which the ingress answers 400.
func TestParseEventRejectsCataloguedObjectWithoutID(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"id":"evt_1","type":"charge.refunded","data":{"object":{}}}`,
		`{"id":"evt_1","type":"charge.dispute.created","data":{"object":{"id":"ch_1","object":"charge"}}}`,
	} {
		_, err := domain.ParseEvent([]byte(body))
		if !errors.Is(err, domain.ErrInvalid) || !domain.IsPermanent(err) || domain.KindOf(err) != domain.KindPermanent {
			t.Errorf("%s: err = %v, want a permanent ErrInvalid", body, err)
		}
	}
}

// Issue 8, input 4: a group id built from external data obeys SQS's rule on
// every producer, and one input always maps to one group.
func TestRouteMakesGroupAndDedupIDsValidForSQS(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200)
	for _, orderID := range []string{"ORD 1001/Zoë", long, "ord_\u202eevil"} {
		body := fmt.Sprintf(`{"id":"evt_%d","type":"charge.refunded","created":1700000000,"data":{"object":{"id":"ch_1","object":"charge","payment_intent":null,"metadata":{"orderId":%q}}}}`, len(orderID), orderID)
		ev, err := domain.ParseEvent([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		m := domain.Route(ev, []byte(body), domain.SourceWebhook)
		if !domain.ValidQueueID(m.GroupID) || !domain.ValidQueueID(m.DedupID) {
			t.Errorf("orderId %q: group %q dedup %q are not valid SQS ids", orderID, m.GroupID, m.DedupID)
		}
		if again := domain.Route(ev, []byte(body), domain.SourceReplay); again.GroupID != m.GroupID {
			t.Errorf("orderId %q: group not stable: %q then %q", orderID, m.GroupID, again.GroupID)
		}
	}
	// A valid id is kept as it is, so existing groups do not move.
	if got := domain.QueueID("pi_123"); got != "pi_123" {
		t.Errorf("QueueID(pi_123) = %q", got)
	}
	if domain.QueueID("a b") == domain.QueueID("a_b") {
		t.Error("two different ids share a digest")
	}
}

// Issue 12, input 4: a signed event with an added "TYPE" key, or a key
// repeated, is refused instead of being read differently than Stripe's own
// libraries read it.
func TestParseEventIsStrictAboutKeys(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"id":"evt_1","type":"charge.refunded","TYPE":"payment_intent.succeeded","data":{"object":{"id":"ch_1","object":"charge"}}}`,
		`{"id":"evt_1","type":"charge.refunded","type":"payment_intent.succeeded","data":{"object":{"id":"ch_1","object":"charge"}}}`,
		`{"id":"evt_1","type":"charge.refunded","data":{"object":{"id":"ch_1","object":"charge","Amount_Refunded":5}}}`,
		`{"id":"evt_1","type":"charge.refunded","data":{"object":{"id":"ch_1","object":"charge"}}} trailing`,
	} {
		if _, err := domain.ParseEvent([]byte(body)); !errors.Is(err, domain.ErrInvalid) || !domain.IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent ErrInvalid", body, err)
		}
	}
}
