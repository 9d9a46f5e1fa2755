package domain_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func baseOrder(status domain.Status) domain.Order {
	o, err := domain.NewOrder(domain.Order{
		ID: "ord_1", UserID: "usr_1", SellerID: "sel_1", ProductID: "prd_1",
		Amount: 2000, Currency: "usd", Status: status,
	}, now.Add(-2*time.Hour))
	if err != nil {
		panic(err)
	}
	if status == domain.StatusRefunded {
		o.PaymentStatus = domain.PaymentRefunded
	}
	if status == domain.StatusCompleted {
		o.PaymentStatus = domain.PaymentPaid
	}
	// The order's own payment: events of pi_1 are about its money.
	o.StripePaymentIntentID = "pi_1"
	return o
}

func piEvent(id, typ string, amount int64, currency string, meta map[string]string) *domain.Event {
	return &domain.Event{
		ID: id, Type: typ, Created: now.Add(-90 * time.Minute),
		Object: domain.EventObject{
			ID: "pi_1", Object: "payment_intent", Amount: amount, AmountReceived: amount,
			Currency: currency, Metadata: meta, LatestCharge: "ch_1",
			LastPaymentError: &domain.PaymentError{Code: "card_declined", Message: "Your card was declined."},
		},
	}
}

func refundEvent(id, typ, status string) *domain.Event {
	return &domain.Event{
		ID: id, Type: typ, Created: now,
		Object: domain.EventObject{ID: "re_1", Object: "refund", Amount: 2000, Currency: "usd", PaymentIntent: "pi_1", Charge: "ch_1",
			Status: status, FailureReason: "expired_or_canceled_card"},
	}
}

func disputeEvent(id, typ, status string) *domain.Event {
	return &domain.Event{
		ID: id, Type: typ, Created: now,
		Object: domain.EventObject{ID: "du_1", Object: "dispute", Amount: 2000, Currency: "usd", PaymentIntent: "pi_1", Charge: "ch_1",
			Status: status, Reason: "fraudulent"},
	}
}

func chargeEvent(id string, amount, refunded int64) *domain.Event {
	return &domain.Event{
		ID: id, Type: domain.EventChargeRefunded, Created: now,
		Object: domain.EventObject{ID: "ch_1", Object: "charge", Amount: amount, AmountRefunded: refunded, Currency: "usd", PaymentIntent: "pi_1"},
	}
}

// expectation describes the observable result of one (trigger × status) cell.
type expectation struct {
	changed       bool
	err           error
	status        domain.Status
	paymentStatus domain.PaymentStatus
	entries       []string
	review        string
}

func TestTransitionTableCoversEveryPair(t *testing.T) {
	t.Parallel()
	for _, tr := range domain.Triggers {
		for _, st := range domain.Statuses {
			if _, ok := domain.Transitions[tr][st]; !ok {
				t.Errorf("no effect defined for trigger %s on status %s", tr, st)
			}
		}
	}
}

func TestApplyEveryPair(t *testing.T) {
	t.Parallel()
	succeeded := piEvent("evt_ok", domain.EventPaymentSucceeded, 2000, "usd", nil)
	failed := piEvent("evt_fail", domain.EventPaymentFailed, 2000, "usd", nil)
	full := chargeEvent("evt_refund", 2000, 2000)
	partial := chargeEvent("evt_partial", 2000, 500)
	uncaptured := chargeEvent("evt_uncaptured", 2000, 2000)
	no := false
	uncaptured.Object.Captured = &no

	changes := map[domain.Trigger]domain.Change{
		domain.TriggerPaymentSucceeded:      {Trigger: domain.TriggerPaymentSucceeded, Event: succeeded, Actor: domain.ActorStripe, At: now},
		domain.TriggerPaymentFailed:         {Trigger: domain.TriggerPaymentFailed, Event: failed, Actor: domain.ActorStripe, At: now},
		domain.TriggerRefundFull:            {Trigger: domain.TriggerRefundFull, Event: full, Actor: domain.ActorStripe, At: now},
		domain.TriggerRefundPartial:         {Trigger: domain.TriggerRefundPartial, Event: partial, Actor: domain.ActorStripe, At: now},
		domain.TriggerCleanup:               {Trigger: domain.TriggerCleanup, Actor: domain.ActorSystem, At: now, FailedBefore: now.Add(-time.Hour)},
		domain.TriggerClearReview:           {Trigger: domain.TriggerClearReview, Actor: domain.Admin("adm_1"), At: now},
		domain.TriggerMarkRefunded:          {Trigger: domain.TriggerMarkRefunded, Actor: domain.Admin("adm_1"), At: now},
		domain.TriggerAuthorizationReleased: {Trigger: domain.TriggerAuthorizationReleased, Event: uncaptured, Actor: domain.ActorStripe, At: now},
		domain.TriggerRefundFailed:          {Trigger: domain.TriggerRefundFailed, Event: refundEvent("evt_rf", domain.EventRefundFailed, "failed"), Actor: domain.ActorStripe, At: now},
		domain.TriggerRefundUpdated:         {Trigger: domain.TriggerRefundUpdated, Event: refundEvent("evt_ru", domain.EventRefundUpdated, "succeeded"), Actor: domain.ActorStripe, At: now},
		domain.TriggerDisputeOpened:         {Trigger: domain.TriggerDisputeOpened, Event: disputeEvent("evt_do", domain.EventDisputeCreated, "needs_response"), Actor: domain.ActorStripe, At: now},
		domain.TriggerDisputeWon:            {Trigger: domain.TriggerDisputeWon, Event: disputeEvent("evt_dw", domain.EventDisputeClosed, "won"), Actor: domain.ActorStripe, At: now},
		domain.TriggerDisputeLost:           {Trigger: domain.TriggerDisputeLost, Event: disputeEvent("evt_dl", domain.EventDisputeClosed, "lost"), Actor: domain.ActorStripe, At: now},
		domain.TriggerDisputeClosed:         {Trigger: domain.TriggerDisputeClosed, Event: disputeEvent("evt_dc", domain.EventDisputeClosed, "warning_closed"), Actor: domain.ActorStripe, At: now},
		domain.TriggerRequestRefund:         {Trigger: domain.TriggerRequestRefund, Actor: domain.Admin("adm_1"), At: now, Refund: &domain.RefundRequest{RefundID: "re_9", Amount: 2000, Reason: "requested_by_customer"}},
		domain.TriggerLinkPaymentIntent:     {Trigger: domain.TriggerLinkPaymentIntent, Actor: domain.Admin("adm_1"), At: now, PaymentIntentID: "pi_2", Force: true},
	}
	// prepare adjusts the order so the cell's interesting case applies:
	// cleanup needs a stale failure, clear-review needs a flag.
	prepare := map[domain.Trigger]func(*domain.Order){
		domain.TriggerCleanup: func(o *domain.Order) {
			if o.Status == domain.StatusPending {
				at := now.Add(-90 * time.Minute)
				o.PaymentStatus, o.PaymentFailedAt = domain.PaymentFailed, &at
			}
		},
		domain.TriggerClearReview: func(o *domain.Order) { o.RequiresReview, o.ReviewReason = true, domain.ReasonAmountMismatch },
		// A won dispute clears only the flag its opening set.
		domain.TriggerDisputeWon: func(o *domain.Order) { o.RequiresReview, o.ReviewReason = true, domain.ReasonDisputeOpened },
	}
	P, C, X, R := domain.StatusPending, domain.StatusCompleted, domain.StatusCancelled, domain.StatusRefunded
	same := func(st domain.Status) expectation { return expectation{status: st} }
	refunded := func() expectation {
		return expectation{changed: true, status: R, paymentStatus: domain.PaymentRefunded, entries: []string{domain.EntryRefundFull}}
	}
	partialNote := func(st domain.Status) expectation {
		return expectation{changed: true, status: st, entries: []string{domain.EntryRefundPartialIgnored}}
	}
	note := func(st domain.Status, entry string) expectation {
		return expectation{changed: true, status: st, entries: []string{entry}}
	}
	wonClears := func(st domain.Status) expectation {
		return expectation{changed: true, status: st, entries: []string{domain.EntryDisputeWon, domain.EntryReviewCleared}}
	}
	cleared := func(st domain.Status) expectation {
		return expectation{changed: true, status: st, entries: []string{domain.EntryReviewCleared}}
	}
	want := map[domain.Trigger]map[domain.Status]expectation{
		domain.TriggerPaymentSucceeded: {
			P: {changed: true, status: C, paymentStatus: domain.PaymentPaid, entries: []string{domain.EntryPaymentSucceeded}},
			C: same(C),
			X: {changed: true, status: C, paymentStatus: domain.PaymentPaid, entries: []string{domain.EntryPaymentSucceeded, domain.EntryReviewRequired}, review: domain.ReasonPaidAfterCancel},
			R: same(R),
		},
		domain.TriggerPaymentFailed: {
			P: {changed: true, status: P, paymentStatus: domain.PaymentFailed, entries: []string{domain.EntryPaymentFailed}},
			C: same(C), X: same(X), R: same(R),
		},
		domain.TriggerRefundFull:    {P: refunded(), C: refunded(), X: refunded(), R: same(R)},
		domain.TriggerRefundPartial: {P: partialNote(P), C: partialNote(C), X: partialNote(X), R: same(R)},
		domain.TriggerCleanup: {
			P: {changed: true, status: X, paymentStatus: domain.PaymentFailed, entries: []string{domain.EntryCleanupCancelled}},
			C: same(C), X: same(X), R: same(R),
		},
		domain.TriggerClearReview:  {P: cleared(P), C: cleared(C), X: cleared(X), R: cleared(R)},
		domain.TriggerMarkRefunded: {P: refunded(), C: refunded(), X: refunded(), R: {status: R, err: domain.ErrAlreadyRefunded}},
		domain.TriggerAuthorizationReleased: {P: note(P, domain.EntryAuthorizationReleased), C: note(C, domain.EntryAuthorizationReleased),
			X: note(X, domain.EntryAuthorizationReleased), R: same(R)},
		domain.TriggerRefundFailed: {P: note(P, domain.EntryRefundFailed), C: note(C, domain.EntryRefundFailed), X: note(X, domain.EntryRefundFailed),
			R: {changed: true, status: C, paymentStatus: domain.PaymentPaid, entries: []string{domain.EntryRefundFailed, domain.EntryReviewRequired}, review: domain.ReasonRefundFailed}},
		domain.TriggerRefundUpdated: {P: same(P), C: same(C), X: same(X), R: same(R)},
		domain.TriggerDisputeOpened: {
			P: {changed: true, status: P, entries: []string{domain.EntryDisputeOpened, domain.EntryReviewRequired}, review: domain.ReasonDisputeOpened},
			C: {changed: true, status: C, entries: []string{domain.EntryDisputeOpened, domain.EntryReviewRequired}, review: domain.ReasonDisputeOpened},
			X: {changed: true, status: X, entries: []string{domain.EntryDisputeOpened, domain.EntryReviewRequired}, review: domain.ReasonDisputeOpened},
			R: note(R, domain.EntryDisputeOpened),
		},
		domain.TriggerDisputeWon: {P: wonClears(P), C: wonClears(C), X: wonClears(X), R: wonClears(R)},
		domain.TriggerDisputeLost: {
			P: {changed: true, status: R, paymentStatus: domain.PaymentRefunded, entries: []string{domain.EntryDisputeLost}},
			C: {changed: true, status: R, paymentStatus: domain.PaymentRefunded, entries: []string{domain.EntryDisputeLost}},
			X: {changed: true, status: R, paymentStatus: domain.PaymentRefunded, entries: []string{domain.EntryDisputeLost}},
			R: note(R, domain.EntryDisputeLost),
		},
		domain.TriggerDisputeClosed: {P: note(P, domain.EntryDisputeClosed), C: note(C, domain.EntryDisputeClosed), X: note(X, domain.EntryDisputeClosed), R: note(R, domain.EntryDisputeClosed)},
		domain.TriggerRequestRefund: {P: {status: P, err: domain.ErrNotPaid}, C: note(C, domain.EntryRefundRequested), X: {status: X, err: domain.ErrNotPaid}, R: {status: R, err: domain.ErrAlreadyRefunded}},
		domain.TriggerLinkPaymentIntent: {P: note(P, domain.EntryPaymentIntentLinked), C: note(C, domain.EntryPaymentIntentLinked),
			X: note(X, domain.EntryPaymentIntentLinked), R: note(R, domain.EntryPaymentIntentLinked)},
	}

	for _, tr := range domain.Triggers {
		for _, st := range domain.Statuses {
			tr, st := tr, st
			t.Run(fmt.Sprintf("%s/%s", tr, st), func(t *testing.T) {
				t.Parallel()
				exp, ok := want[tr][st]
				if !ok {
					t.Fatalf("test table has no expectation for %s × %s", tr, st)
				}
				o := baseOrder(st)
				if p := prepare[tr]; p != nil {
					p(&o)
				}
				before := o.Clone()
				changed, err := domain.Apply(&o, changes[tr])
				if !errors.Is(err, exp.err) || (exp.err == nil && err != nil) {
					t.Fatalf("err = %v, want %v", err, exp.err)
				}
				if changed != exp.changed {
					t.Fatalf("changed = %v, want %v", changed, exp.changed)
				}
				if !changed {
					// "No change" means no write: the order must be untouched too.
					if fmt.Sprint(o) != fmt.Sprint(before) {
						t.Fatalf("order modified although no change was reported:\n%+v\n%+v", before, o)
					}
					return
				}
				if o.Status != exp.status {
					t.Errorf("status = %s, want %s", o.Status, exp.status)
				}
				if exp.paymentStatus != "" && o.PaymentStatus != exp.paymentStatus {
					t.Errorf("paymentStatus = %s, want %s", o.PaymentStatus, exp.paymentStatus)
				}
				added := o.Timeline[len(before.Timeline):]
				if len(added) != len(exp.entries) {
					t.Fatalf("timeline added %+v, want types %v", added, exp.entries)
				}
				for i, e := range added {
					if e.Type != exp.entries[i] {
						t.Errorf("entry %d type = %s, want %s", i, e.Type, exp.entries[i])
					}
					c := changes[tr]
					if e.Actor != c.Actor.Name || e.ActorType != c.Actor.Type || e.ActorID != c.Actor.ID {
						t.Errorf("entry %d actor = %s/%s/%s, want %+v", i, e.Actor, e.ActorType, e.ActorID, c.Actor)
					}
					if c.Event != nil && e.EventID != c.Event.ID {
						t.Errorf("entry %d eventId = %q, want %q", i, e.EventID, c.Event.ID)
					}
				}
				if o.ReviewReason != exp.review && exp.review != "" {
					t.Errorf("reviewReason = %q, want %q", o.ReviewReason, exp.review)
				}
			})
		}
	}
}

func TestPaymentSucceededRecordsMetaAndIDs(t *testing.T) {
	t.Parallel()
	o := baseOrder(domain.StatusPending)
	ev := piEvent("evt_ok", domain.EventPaymentSucceeded, 2000, "usd", map[string]string{"userId": "usr_1"})
	if _, err := domain.Apply(&o, domain.Change{Trigger: domain.TriggerPaymentSucceeded, Event: ev, Actor: domain.ActorStripe, At: now}); err != nil {
		t.Fatal(err)
	}
	if o.RequiresReview {
		t.Fatalf("matching payment flagged: %s", o.ReviewReason)
	}
	if o.StripePaymentIntentID != "pi_1" || o.StripeChargeID != "ch_1" {
		t.Fatalf("ids = %q/%q", o.StripePaymentIntentID, o.StripeChargeID)
	}
	meta := o.Timeline[0].Meta
	if meta["paymentIntentId"] != "pi_1" || meta["chargeId"] != "ch_1" || meta["amount"] != int64(2000) || meta["currency"] != "usd" {
		t.Fatalf("meta = %v", meta)
	}
}

func TestFraudCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		amount   int64
		currency string
		meta     map[string]string
		want     string
	}{
		{"match", 2000, "usd", map[string]string{"userId": "usr_1"}, ""},
		{"no user metadata", 2000, "usd", nil, ""},
		{"amount", 1999, "usd", nil, domain.ReasonAmountMismatch},
		{"currency", 2000, "eur", nil, domain.ReasonCurrencyMismatch},
		{"user", 2000, "usd", map[string]string{"userId": "usr_2"}, domain.ReasonUserMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := baseOrder(domain.StatusPending)
			ev := piEvent("evt_"+tc.name, domain.EventPaymentSucceeded, tc.amount, tc.currency, tc.meta)
			if _, err := domain.Apply(&o, domain.Change{Trigger: domain.TriggerPaymentSucceeded, Event: ev, Actor: domain.ActorStripe, At: now}); err != nil {
				t.Fatal(err)
			}
			if o.RequiresReview != (tc.want != "") || o.ReviewReason != tc.want {
				t.Fatalf("requiresReview=%v reason=%q, want %q", o.RequiresReview, o.ReviewReason, tc.want)
			}
			if tc.want != "" {
				last := o.Timeline[len(o.Timeline)-1]
				if last.Type != domain.EntryReviewRequired || last.Meta["reason"] != tc.want {
					t.Fatalf("last entry = %+v", last)
				}
			}
		})
	}
}

func TestApplyIsIdempotentPerEvent(t *testing.T) {
	t.Parallel()
	o := baseOrder(domain.StatusPending)
	ev := chargeEvent("evt_partial", 2000, 100)
	c := domain.Change{Trigger: domain.TriggerRefundPartial, Event: ev, Actor: domain.ActorStripe, At: now}
	if changed, err := domain.Apply(&o, c); !changed || err != nil {
		t.Fatalf("first apply: %v %v", changed, err)
	}
	if changed, err := domain.Apply(&o, c); changed || !errors.Is(err, domain.ErrAlreadyApplied) {
		t.Fatalf("second apply: changed=%v err=%v, want ErrAlreadyApplied", changed, err)
	}
	if len(o.Timeline) != 1 {
		t.Fatalf("timeline has %d entries", len(o.Timeline))
	}
}

func TestCleanupKeepsRecentFailures(t *testing.T) {
	t.Parallel()
	o := baseOrder(domain.StatusPending)
	recent := now.Add(-10 * time.Minute)
	o.PaymentStatus, o.PaymentFailedAt = domain.PaymentFailed, &recent
	changed, err := domain.Apply(&o, domain.Change{Trigger: domain.TriggerCleanup, Actor: domain.ActorSystem, At: now, FailedBefore: now.Add(-time.Hour)})
	if changed || err != nil || o.Status != domain.StatusPending {
		t.Fatalf("recent failure cancelled: changed=%v err=%v status=%s", changed, err, o.Status)
	}
}

func TestClearReviewRequiresFlag(t *testing.T) {
	t.Parallel()
	o := baseOrder(domain.StatusCompleted)
	_, err := domain.Apply(&o, domain.Change{Trigger: domain.TriggerClearReview, Actor: domain.Admin("adm_1"), At: now})
	if !errors.Is(err, domain.ErrNotFlagged) {
		t.Fatalf("err = %v, want ErrNotFlagged", err)
	}
}

func TestTriggerForEvent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ev   *domain.Event
		want domain.Trigger
	}{
		{piEvent("e1", domain.EventPaymentSucceeded, 1, "usd", nil), domain.TriggerPaymentSucceeded},
		{piEvent("e2", domain.EventPaymentFailed, 1, "usd", nil), domain.TriggerPaymentFailed},
		{chargeEvent("e3", 2000, 2000), domain.TriggerRefundFull},
		{chargeEvent("e4", 2000, 2500), domain.TriggerRefundFull},
		{chargeEvent("e5", 2000, 1999), domain.TriggerRefundPartial},
	}
	for _, tc := range cases {
		got, err := domain.TriggerForEvent(*tc.ev)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.ev.ID, got, err, tc.want)
		}
	}
	if _, err := domain.TriggerForEvent(domain.Event{Type: "customer.created"}); !domain.IsPermanent(err) {
		t.Errorf("unknown type: err = %v, want a permanent error", err)
	}
}
