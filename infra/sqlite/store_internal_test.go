package sqlite

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// TestMayHaveAppliedNeverMissesAnAppliedEvent: the shortcut that lets Save
// skip decoding answers "cannot" only when decoding would find nothing, on
// orders encoded as the store encodes them.
func TestMayHaveAppliedNeverMissesAnAppliedEvent(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	o, err := domain.NewOrder(domain.Order{ID: "ord_1", UserID: "usr_1", SellerID: "sel_1", Amount: 100, Currency: "usd"}, now)
	if err != nil {
		t.Fatal(err)
	}
	o.AppliedEvents = []string{"evt_10", "evt_quote\"d", "evt_<amp&>"}
	o.Timeline = append(o.Timeline, domain.TimelineEntry{Type: domain.EntryPaymentSucceeded, At: now, EventID: "evt_timeline"})
	plain := o.Clone()
	plain.AppliedEvents = []string{"evt_10"}
	for _, ord := range []domain.Order{o, plain} {
		data, err := encodeOrder(ord)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := decodeOrder(data, ord.Version)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"evt_10", "evt_1", "evt_100", "evt_timeline", "evt_quote\"d", "evt_<amp&>", "evt_new", "ord_1", "usd", "évt", "evt\n"} {
			may := mayHaveApplied(data, id)
			if stored.HasApplied(id) && !may {
				t.Errorf("%q is applied in %s but mayHaveApplied says it cannot be", id, data)
			}
		}
	}
	data, err := encodeOrder(plain)
	if err != nil {
		t.Fatal(err)
	}
	// The shortcut is taken where it matters: a new event on a plain order.
	if mayHaveApplied(data, "evt_1") || mayHaveApplied(data, "evt_new") {
		t.Errorf("mayHaveApplied did not rule out events absent from %s", data)
	}
}
