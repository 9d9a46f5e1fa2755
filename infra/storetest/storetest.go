// Package storetest is the contract test suite of domain.Store: every backend
// (SQLite, DynamoDB) runs Run against a real instance, so the workers can
// rely on the same behaviour everywhere.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// timeout bounds each test so a backend that hangs fails instead of stalling CI.
const timeout = 60 * time.Second

// Run runs the store contract against stores made by newStore. Each call must
// return an isolated, empty store (or a shared one: the suite uses unique ids
// and only asserts about its own orders).
func Run(t *testing.T, newStore func(t *testing.T) domain.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s domain.Store)
	}{
		{"CreateGet", testCreateGet},
		{"Save", testSave},
		{"SaveChangesIndexes", testSaveChangesIndexes},
		{"UpdateConcurrentDistinctEvents", testUpdateConcurrentDistinct},
		{"UpdateConcurrentSameEvent", testUpdateConcurrentSame},
		{"ConcurrentSavesAcrossOrders", testConcurrentSavesAcrossOrders},
		{"List", testList},
		{"ListStopsAtError", testListStopsAtError},
		{"ListWhileWriting", testListWhileWriting},
		{"RoundTrip", testRoundTrip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

// fixedClock is the injected clock domain.Update asks for.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var (
	base  = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clock = fixedClock{t: base.Add(time.Hour)}
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// uid returns an id no other test run uses, so the suite can share a table.
func uid(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

// newOrder is a valid, freshly created order with unique ids.
func newOrder(t *testing.T) domain.Order {
	t.Helper()
	o, err := domain.NewOrder(domain.Order{
		ID: uid("ord"), UserID: uid("usr"), SellerID: uid("sel"), ProductID: "prod_1",
		Amount: 5000, Currency: "usd",
	}, base)
	if err != nil {
		t.Fatalf("NewOrder: %v", err)
	}
	return o
}

func mustCreate(ctx context.Context, t *testing.T, s domain.Store, o domain.Order) {
	t.Helper()
	if err := s.Create(ctx, o); err != nil {
		t.Fatalf("Create(%s): %v", o.ID, err)
	}
}

func mustGet(ctx context.Context, t *testing.T, s domain.Store, id string) domain.Order {
	t.Helper()
	o, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return o
}

// canonical is the order as JSON after the normalisations every backend may
// apply: UTC times, numbers in meta as JSON numbers, nil and empty lists alike.
func canonical(t *testing.T, o domain.Order) string {
	t.Helper()
	c := o.Clone()
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if c.PaymentFailedAt != nil {
		u := c.PaymentFailedAt.UTC()
		c.PaymentFailedAt = &u
	}
	for i := range c.Timeline {
		c.Timeline[i].At = c.Timeline[i].At.UTC()
		if len(c.Timeline[i].Meta) == 0 {
			c.Timeline[i].Meta = nil
		}
	}
	if len(c.Timeline) == 0 {
		c.Timeline = nil
	}
	if len(c.AppliedEvents) == 0 {
		c.AppliedEvents = nil
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatalf("marshal order: %v", err)
	}
	return string(b)
}

func assertSameOrder(t *testing.T, got, want domain.Order) {
	t.Helper()
	if g, w := canonical(t, got), canonical(t, want); g != w {
		t.Fatalf("order %s differs after the round trip\n got: %s\nwant: %s", want.ID, g, w)
	}
	times := map[string]time.Time{"createdAt": got.CreatedAt, "updatedAt": got.UpdatedAt}
	if got.PaymentFailedAt != nil {
		times["paymentFailedAt"] = *got.PaymentFailedAt
	}
	for i, e := range got.Timeline {
		times[fmt.Sprintf("timeline[%d].at", i)] = e.At
	}
	for name, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s is in %v, want UTC", name, tm.Location())
		}
	}
}

func testCreateGet(t *testing.T, s domain.Store) {
	ctx := ctxFor(t)
	o := newOrder(t)
	mustCreate(ctx, t, s, o)
	assertSameOrder(t, mustGet(ctx, t, s, o.ID), o)

	dup := o
	dup.Amount = 1
	if err := s.Create(ctx, dup); !errors.Is(err, domain.ErrAlreadyExists) {
		t.Fatalf("Create of a taken id: got %v, want ErrAlreadyExists", err)
	}
	assertSameOrder(t, mustGet(ctx, t, s, o.ID), o)

	if _, err := s.Get(ctx, uid("missing")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get of a missing order: got %v, want ErrNotFound", err)
	}
}

func testSave(t *testing.T, s domain.Store) {
	// next is the order as domain.Update would write it after current.
	next := func(current domain.Order, eventID string) domain.Order {
		n := current.Clone()
		n.Status, n.PaymentStatus = domain.StatusCompleted, domain.PaymentPaid
		n.Version = current.Version + 1
		n.UpdatedAt = clock.Now()
		if eventID != "" {
			n.AppliedEvents = append(n.AppliedEvents, eventID)
			n.Timeline = append(n.Timeline, domain.TimelineEntry{Type: domain.EntryPaymentSucceeded, At: clock.Now(),
				Actor: "stripe", ActorType: "system", EventID: eventID})
		}
		return n
	}
	tests := []struct {
		name    string
		setup   func(ctx context.Context, t *testing.T, o domain.Order) domain.Order // returns the stored order
		save    func(stored domain.Order) (o domain.Order, expected int64, eventID string)
		wantErr error
	}{
		{
			name: "success bumps version and data",
			save: func(st domain.Order) (domain.Order, int64, string) {
				return next(st, "evt_"+st.ID), st.Version, "evt_" + st.ID
			},
		},
		{
			name: "success without event",
			save: func(st domain.Order) (domain.Order, int64, string) { return next(st, ""), st.Version, "" },
		},
		{
			name: "stale version",
			save: func(st domain.Order) (domain.Order, int64, string) {
				o := next(st, "")
				o.Version = st.Version + 5
				return o, st.Version + 4, ""
			},
			wantErr: domain.ErrConflict,
		},
		{
			name: "older version after a write",
			setup: func(ctx context.Context, t *testing.T, o domain.Order) domain.Order {
				n := next(o, "")
				if err := s.Save(ctx, n, o.Version, ""); err != nil {
					t.Fatalf("first Save: %v", err)
				}
				return n
			},
			save: func(st domain.Order) (domain.Order, int64, string) {
				o := next(st, "")
				o.Version = st.Version // what a writer that read version 1 would send
				return o, st.Version - 1, ""
			},
			wantErr: domain.ErrConflict,
		},
		{
			name: "event already applied",
			setup: func(ctx context.Context, t *testing.T, o domain.Order) domain.Order {
				n := next(o, "evt_a_"+o.ID)
				if err := s.Save(ctx, n, o.Version, "evt_a_"+o.ID); err != nil {
					t.Fatalf("first Save: %v", err)
				}
				return n
			},
			save: func(st domain.Order) (domain.Order, int64, string) {
				return next(st, "evt_a_"+st.ID), st.Version, "evt_a_" + st.ID
			},
			wantErr: domain.ErrAlreadyApplied,
		},
		{
			name: "missing order",
			save: func(st domain.Order) (domain.Order, int64, string) {
				o := next(st, "")
				o.ID = uid("missing")
				return o, st.Version, ""
			},
			wantErr: domain.ErrNotFound,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t)
			stored := newOrder(t)
			mustCreate(ctx, t, s, stored)
			if tc.setup != nil {
				stored = tc.setup(ctx, t, stored)
			}
			o, expected, eventID := tc.save(stored)
			err := s.Save(ctx, o, expected, eventID)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Save: got %v, want %v", err, tc.wantErr)
				}
				if o.ID == stored.ID {
					assertSameOrder(t, mustGet(ctx, t, s, stored.ID), stored)
				}
				return
			}
			if err != nil {
				t.Fatalf("Save: %v", err)
			}
			got := mustGet(ctx, t, s, o.ID)
			if got.Version != stored.Version+1 {
				t.Errorf("version after Save = %d, want %d", got.Version, stored.Version+1)
			}
			assertSameOrder(t, got, o)
		})
	}
}

func testSaveChangesIndexes(t *testing.T, s domain.Store) {
	ctx := ctxFor(t)
	o := newOrder(t)
	mustCreate(ctx, t, s, o)
	n := o.Clone()
	n.Status, n.UserID, n.SellerID = domain.StatusCompleted, uid("usr"), uid("sel")
	n.StripePaymentIntentID, n.RequiresReview = uid("pi"), true
	n.Version++
	if err := s.Save(ctx, n, o.Version, ""); err != nil {
		t.Fatalf("Save: %v", err)
	}
	yes := true
	tests := []struct {
		name   string
		filter domain.Filter
		want   bool
	}{
		{"old user", domain.Filter{UserID: o.UserID}, false},
		{"new user", domain.Filter{UserID: n.UserID}, true},
		{"old seller", domain.Filter{SellerID: o.SellerID}, false},
		{"new seller", domain.Filter{SellerID: n.SellerID}, true},
		{"new payment intent", domain.Filter{PaymentIntentID: n.StripePaymentIntentID}, true},
		{"new status", domain.Filter{Status: domain.StatusCompleted, UserID: n.UserID}, true},
		{"old status", domain.Filter{Status: domain.StatusPending, UserID: n.UserID}, false},
		{"flagged", domain.Filter{RequiresReview: &yes, SellerID: n.SellerID}, true},
	}
	for _, tc := range tests {
		got := listIDs(ctx, t, s, tc.filter)
		if slices.Contains(got, o.ID) != tc.want {
			t.Errorf("%s: List(%+v) = %v; want order %s listed: %v", tc.name, tc.filter, got, o.ID, tc.want)
		}
	}
}

func listIDs(ctx context.Context, t *testing.T, s domain.Store, f domain.Filter) []string {
	t.Helper()
	var ids []string
	err := s.List(ctx, f, func(o domain.Order) error {
		if !f.Match(o) {
			t.Errorf("List(%+v) returned order %s, which does not match", f, o.ID)
		}
		ids = append(ids, o.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	return ids
}

// entryMutation appends one timeline entry for eventID, as a Stripe handler would.
func entryMutation(eventID string) domain.Mutation {
	return func(o *domain.Order) (bool, error) {
		// Widen the window between read and write so racing writers overlap.
		time.Sleep(time.Millisecond)
		o.Timeline = append(o.Timeline, domain.TimelineEntry{
			Type: domain.EntryRefundPartialIgnored, At: clock.Now(), Actor: "stripe", ActorType: "system",
			EventID: eventID, Meta: map[string]any{"n": len(o.Timeline)},
		})
		return true, nil
	}
}

func testUpdateConcurrentDistinct(t *testing.T, s domain.Store) {
	ctx := ctxFor(t)
	o := newOrder(t)
	mustCreate(ctx, t, s, o)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evt := fmt.Sprintf("evt_%d_%s", i, o.ID)
			_, changed, err := domain.Update(ctx, s, clock, o.ID, evt, entryMutation(evt))
			if err == nil && !changed {
				err = fmt.Errorf("event %s reported no change", evt)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Update: %v", err)
		}
	}
	got := mustGet(ctx, t, s, o.ID)
	if got.Version != 1+n {
		t.Errorf("version = %d, want %d", got.Version, 1+n)
	}
	if len(got.Timeline) != n {
		t.Fatalf("timeline has %d entries, want %d: %+v", len(got.Timeline), n, got.Timeline)
	}
	var order []string
	for i, e := range got.Timeline {
		order = append(order, e.EventID)
		if n, ok := asInt(e.Meta["n"]); !ok || n != i {
			t.Errorf("timeline[%d] was written on top of %v entries: a lost update", i, e.Meta["n"])
		}
	}
	sorted := slices.Clone(order)
	sort.Strings(sorted)
	if len(slices.Compact(sorted)) != n {
		t.Errorf("timeline event ids are not distinct: %v", order)
	}
	if !slices.Equal(got.AppliedEvents, order) {
		t.Errorf("appliedEvents = %v, want the timeline order %v", got.AppliedEvents, order)
	}
}

// asInt reads a number from meta, whatever numeric type the backend decoded.
func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), n == float64(int(n))
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}

func testUpdateConcurrentSame(t *testing.T, s domain.Store) {
	ctx := ctxFor(t)
	o := newOrder(t)
	mustCreate(ctx, t, s, o)
	const n = 6
	evt := "evt_same_" + o.ID
	var wg sync.WaitGroup
	var mu sync.Mutex
	changes := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, changed, err := domain.Update(ctx, s, clock, o.ID, evt, entryMutation(evt))
			if err != nil {
				t.Errorf("Update: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if changed {
				changes++
			}
		}()
	}
	wg.Wait()
	if changes != 1 {
		t.Errorf("%d of %d concurrent Updates with one event reported a change, want 1", changes, n)
	}
	got := mustGet(ctx, t, s, o.ID)
	if got.Version != 2 || len(got.Timeline) != 1 || !slices.Equal(got.AppliedEvents, []string{evt}) {
		t.Errorf("after one event applied %d times: version %d (want 2), %d timeline entries (want 1), appliedEvents %v",
			n, got.Version, len(got.Timeline), got.AppliedEvents)
	}
}

func testList(t *testing.T, s domain.Store) {
	ctx := ctxFor(t)
	userA, userB := uid("usr"), uid("usr")
	sellerA, sellerB := uid("sel"), uid("sel")
	piA, piDouble := uid("pi"), uid("pi")
	type spec struct {
		key            string
		user, seller   string
		status         domain.Status
		pi             string
		requiresReview bool
	}
	specs := []spec{
		{"a1", userA, sellerA, domain.StatusPending, piA, false},
		{"a2", userA, sellerA, domain.StatusCompleted, uid("pi"), true},
		{"a3", userA, sellerB, domain.StatusCompleted, "", false},
		{"b1", userB, sellerA, domain.StatusRefunded, uid("pi"), true},
		{"b2", userB, sellerB, domain.StatusPending, "", false},
		{"b3", userB, sellerB, domain.StatusCancelled, uid("pi"), false},
	}
	ids := map[string]string{}  // key → id
	keys := map[string]string{} // id → key
	for _, sp := range specs {
		o := newOrder(t)
		o.UserID, o.SellerID, o.Status, o.StripePaymentIntentID, o.RequiresReview = sp.user, sp.seller, sp.status, sp.pi, sp.requiresReview
		if sp.requiresReview {
			o.ReviewReason = domain.ReasonAmountMismatch
		}
		if sp.key == "b1" {
			// b1 recorded piA's double as another payment (a filtered
			// scan on every backend: no index holds it).
			o.OtherPaymentIntentIDs = []string{piDouble, uid("pi")}
		}
		mustCreate(ctx, t, s, o)
		ids[sp.key], keys[o.ID] = o.ID, sp.key
	}
	// Other users' orders under sellerB, which the user filters must skip.
	for range 3 {
		o := newOrder(t)
		o.SellerID = sellerB
		mustCreate(ctx, t, s, o)
		keys[o.ID] = "crowd"
	}
	yes, no := true, false
	tests := []struct {
		name   string
		filter domain.Filter
		want   []string
	}{
		{"user", domain.Filter{UserID: userA}, []string{"a1", "a2", "a3"}},
		{"seller", domain.Filter{SellerID: sellerA}, []string{"a1", "a2", "b1"}},
		{"payment intent", domain.Filter{PaymentIntentID: piA}, []string{"a1"}},
		{"status", domain.Filter{Status: domain.StatusCompleted}, []string{"a2", "a3"}},
		{"requires review", domain.Filter{RequiresReview: &yes}, []string{"a2", "b1"}},
		{"user and status", domain.Filter{UserID: userB, Status: domain.StatusPending}, []string{"b2"}},
		{"seller and status", domain.Filter{SellerID: sellerB, Status: domain.StatusCompleted}, []string{"a3"}},
		{"user and seller", domain.Filter{UserID: userB, SellerID: sellerB}, []string{"b2", "b3"}},
		{"user not flagged", domain.Filter{UserID: userA, RequiresReview: &no}, []string{"a1", "a3"}},
		{"seller flagged", domain.Filter{SellerID: sellerA, RequiresReview: &yes}, []string{"a2", "b1"}},
		{"payment intent of another user", domain.Filter{PaymentIntentID: piA, UserID: userB}, nil},
		{"other payment intent", domain.Filter{OtherPaymentIntentID: piDouble}, []string{"b1"}},
		{"other payment intent, not the order's own", domain.Filter{OtherPaymentIntentID: piA}, nil},
		{"unknown user", domain.Filter{UserID: uid("usr")}, nil},
		{"everything", domain.Filter{}, []string{"a1", "a2", "a3", "b1", "b2", "b3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			seen := map[string]bool{}
			for _, id := range listIDs(ctx, t, s, tc.filter) {
				if seen[id] {
					t.Errorf("order %s listed twice", id)
				}
				seen[id] = true
				// A shared table holds other tests' orders; judge only ours.
				if k := keys[id]; k != "" && k != "crowd" {
					got = append(got, k)
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("List(%+v) = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}
}

func testListStopsAtError(t *testing.T, s domain.Store) {
	ctx := ctxFor(t)
	user := uid("usr")
	for range 3 {
		o := newOrder(t)
		o.UserID = user
		mustCreate(ctx, t, s, o)
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.List(ctx, domain.Filter{UserID: user}, func(domain.Order) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("List returned %v, want fn's error", err)
	}
	if calls != 1 {
		t.Errorf("fn called %d times after returning an error, want 1", calls)
	}
}

// testListWhileWriting writes every listed order from inside fn, as the
// backfill and cleanup commands do; a store holding a lock across fn hangs.
func testListWhileWriting(t *testing.T, s domain.Store) {
	ctx := ctxFor(t)
	seller := uid("sel")
	const n = 5
	for range n {
		o := newOrder(t)
		o.SellerID = seller
		mustCreate(ctx, t, s, o)
	}
	updated := 0
	err := s.List(ctx, domain.Filter{SellerID: seller, Status: domain.StatusPending}, func(o domain.Order) error {
		_, changed, err := domain.Update(ctx, s, clock, o.ID, "", func(o *domain.Order) (bool, error) {
			o.Status = domain.StatusCancelled
			return true, nil
		})
		if changed {
			updated++
		}
		return err
	})
	if err != nil {
		t.Fatalf("List with writes in fn: %v", err)
	}
	if updated != n {
		t.Errorf("updated %d orders, want %d", updated, n)
	}
	if left := listIDs(ctx, t, s, domain.Filter{SellerID: seller, Status: domain.StatusPending}); len(left) != 0 {
		t.Errorf("still pending after the update: %v", left)
	}
}

func testRoundTrip(t *testing.T, s domain.Store) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("UTC+2", 2*3600)
	}
	failedAt := time.Date(2024, 5, 1, 14, 30, 15, 250_000_000, paris)
	full := func() domain.Order {
		o := newOrder(t)
		o.ProductID = "prod_é_ünïcode"
		o.Amount, o.Currency = 129_99, "eur"
		o.Status, o.PaymentStatus = domain.StatusCompleted, domain.PaymentPaid
		o.RequiresReview, o.ReviewReason = true, domain.ReasonUserMismatch
		o.StripePaymentIntentID, o.StripeChargeID = uid("pi"), uid("ch")
		o.PaymentFailedAt = &failedAt
		o.CreatedAt = time.Date(2024, 4, 30, 23, 59, 59, 123_000_000, paris)
		o.UpdatedAt = time.Date(2024, 5, 1, 15, 0, 0, 456_000_000, time.UTC)
		o.Version = 7
		evts := []string{uid("evt"), uid("evt"), uid("evt")}
		o.Timeline = []domain.TimelineEntry{
			{Type: domain.EntryPaymentFailed, At: failedAt, Actor: "stripe", ActorType: "system", EventID: evts[0],
				Meta: map[string]any{"code": "card_declined", "message": "Your card was declined."}},
			{Type: domain.EntryPaymentSucceeded, At: failedAt.Add(time.Minute), Actor: "stripe", ActorType: "system", EventID: evts[1],
				Meta: map[string]any{"paymentIntentId": o.StripePaymentIntentID, "chargeId": o.StripeChargeID, "amount": int64(12999), "currency": "eur"}},
			{Type: domain.EntryReviewRequired, At: failedAt.Add(time.Minute), Actor: "stripe", ActorType: "system", EventID: evts[1],
				Meta: map[string]any{"reason": domain.ReasonUserMismatch}},
			{Type: domain.EntryRefundPartialIgnored, At: failedAt.Add(2 * time.Minute), Actor: "stripe", ActorType: "system", EventID: evts[2],
				Meta: map[string]any{"chargeId": o.StripeChargeID, "amountRefunded": int64(100)}},
			{Type: domain.EntryReviewCleared, At: failedAt.Add(3 * time.Minute), Actor: "admin", ActorType: "user", ActorID: "adm_42"},
			{Type: domain.EntryRefundFull, At: failedAt.Add(4 * time.Minute), Actor: "admin", ActorType: "user", ActorID: "adm_42",
				Meta: map[string]any{"manual": true}},
		}
		o.AppliedEvents = evts
		return o
	}
	minimal := func() domain.Order {
		o := newOrder(t)
		o.SellerID, o.ProductID = "", ""
		return o
	}
	tests := []struct {
		name  string
		order func() domain.Order
	}{
		{"every field", full},
		{"minimal", minimal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t)
			want := tc.order()
			mustCreate(ctx, t, s, want)
			got := mustGet(ctx, t, s, want.ID)
			assertSameOrder(t, got, want)
			if !slices.Equal(got.AppliedEvents, want.AppliedEvents) {
				t.Errorf("appliedEvents = %v, want %v in applied order", got.AppliedEvents, want.AppliedEvents)
			}
			if (got.PaymentFailedAt == nil) != (want.PaymentFailedAt == nil) {
				t.Errorf("paymentFailedAt = %v, want %v", got.PaymentFailedAt, want.PaymentFailedAt)
			}
			if got.StripePaymentIntentID != want.StripePaymentIntentID || got.ReviewReason != want.ReviewReason {
				t.Errorf("got payment intent %q reason %q, want %q %q", got.StripePaymentIntentID, got.ReviewReason,
					want.StripePaymentIntentID, want.ReviewReason)
			}
		})
	}
}

// testConcurrentSavesAcrossOrders races, on many orders at once, a Save that
// can win, one on the same version that must lose (ErrConflict) and one of an
// event the order already applied (ErrAlreadyApplied). A backend that shares
// a transaction between concurrent Saves (SQLite's group commit) must keep
// each check to its own order: a failed one neither undoes nor repeats the
// others.
func testConcurrentSavesAcrossOrders(t *testing.T, s domain.Store) {
	ctx := ctxFor(t)
	const orders = 24
	type saved struct {
		wins, conflicts, applied int
	}
	var created []domain.Order
	for range orders {
		o := newOrder(t)
		o.AppliedEvents = []string{"evt_before_" + o.ID}
		mustCreate(ctx, t, s, o)
		created = append(created, o)
	}
	next := func(o domain.Order, evt string) domain.Order {
		n := o.Clone()
		n.Version = o.Version + 1
		n.AppliedEvents = append(n.AppliedEvents, evt)
		n.Timeline = append(n.Timeline, domain.TimelineEntry{
			Type: domain.EntryRefundPartialIgnored, At: clock.Now(), Actor: "stripe", ActorType: "system", EventID: evt,
		})
		return n
	}
	var mu sync.Mutex
	results := map[string]*saved{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, o := range created {
		results[o.ID] = &saved{}
		for _, evt := range []string{"evt_a_" + o.ID, "evt_b_" + o.ID, "evt_before_" + o.ID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := s.Save(ctx, next(o, evt), o.Version, evt)
				mu.Lock()
				defer mu.Unlock()
				r := results[o.ID]
				switch {
				case err == nil:
					r.wins++
				case errors.Is(err, domain.ErrAlreadyApplied):
					r.applied++
				case errors.Is(err, domain.ErrConflict):
					r.conflicts++
				default:
					t.Errorf("Save(%s, %s): %v", o.ID, evt, err)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	for _, o := range created {
		r := results[o.ID]
		if r.wins != 1 || r.conflicts+r.applied != 2 {
			t.Errorf("order %s: %d Saves won, %d conflicts, %d already applied; want 1 win and 2 refusals",
				o.ID, r.wins, r.conflicts, r.applied)
		}
		got := mustGet(ctx, t, s, o.ID)
		if got.Version != o.Version+1 || len(got.Timeline) != 1 {
			t.Errorf("order %s: version %d with %d timeline entries, want version %d with exactly the winner's entry",
				o.ID, got.Version, len(got.Timeline), o.Version+1)
			continue
		}
		if w := got.Timeline[0].EventID; !slices.Contains(got.AppliedEvents, w) || w == "evt_before_"+o.ID {
			t.Errorf("order %s: timeline entry %s, appliedEvents %v: the stored order is not one Save's whole write", o.ID, w, got.AppliedEvents)
		}
	}
}
