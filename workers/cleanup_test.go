package workers_test

import (
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/workers"
)

// cleanupOrders writes one order per interesting case and returns the id the
// cleanup must cancel.
func cleanupOrders(t *testing.T, b *bundle) (stale string) {
	t.Helper()
	failedAt := func(ago time.Duration) func(*domain.Order) {
		return func(o *domain.Order) {
			at := epoch.Add(-ago)
			o.PaymentStatus = domain.PaymentFailed
			o.PaymentFailedAt = &at
		}
	}
	b.createOrder(t, "ord_stale", "pi_stale", failedAt(2*time.Hour))
	b.createOrder(t, "ord_fresh", "pi_fresh", failedAt(10*time.Minute))
	b.createOrder(t, "ord_waiting", "pi_waiting", nil)
	b.createOrder(t, "ord_paid", "pi_paid", func(o *domain.Order) {
		failedAt(3 * time.Hour)(o)
		o.Status, o.PaymentStatus = domain.StatusCompleted, domain.PaymentPaid
	})
	return "ord_stale"
}

func TestCleanupRunCancelsOnlyStaleFailedPayments(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stale := cleanupOrders(t, b)
	c := workers.NewCleanup(b.deps)

	n, err := c.Run(b.ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Run = %d, %v; want 1 cancelled", n, err)
	}
	want := map[string]domain.Status{stale: domain.StatusCancelled, "ord_fresh": domain.StatusPending, "ord_waiting": domain.StatusPending, "ord_paid": domain.StatusCompleted}
	for id, status := range want {
		if o := b.order(t, id); o.Status != status {
			t.Errorf("%s status = %s, want %s", id, o.Status, status)
		}
	}
	o := b.order(t, stale)
	if len(o.Timeline) != 1 || o.Timeline[0].Type != domain.EntryCleanupCancelled || o.Timeline[0].Actor != "system" || o.Timeline[0].ActorType != "system" {
		t.Errorf("timeline = %+v, want one cleanup_cancelled by system", o.Timeline)
	}

	// Nothing left to do is success; the clock moving on makes the fresh one stale.
	if n, err := c.Run(b.ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("second Run = %d, %v; want 0, nil", n, err)
	}
	b.clock.Advance(time.Hour)
	if n, err := c.Run(b.ctx, time.Hour); err != nil || n != 1 {
		t.Errorf("Run an hour later = %d, %v; want 1 (ord_fresh)", n, err)
	}

	for _, f := range b.store.Filters() {
		if f != (domain.Filter{Status: domain.StatusPending}) {
			t.Errorf("cleanup listed with %+v; want only the StatusIndex (status pending)", f)
		}
	}
	if len(b.store.Filters()) != 3 {
		t.Errorf("List calls = %d, want one per Run", len(b.store.Filters()))
	}
}

func TestCleanupMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		withOrders bool
		wantFailed bool
		wantDLQ    bool
	}{
		{name: "cancels stale orders", body: `{"type":"cleanup.run"}`, withOrders: true},
		{name: "nothing to do is success", body: `{"type":"cleanup.run"}`},
		{name: "empty body works", body: ``, withOrders: true},
		{name: "wrong type is dead-lettered", body: `{"type":"something.else"}`, withOrders: true, wantDLQ: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			stale := ""
			if tt.withOrders {
				stale = cleanupOrders(t, b)
			}
			msg := domain.Message{ID: "c1", Body: []byte(tt.body), GroupID: domain.CleanupGroup, DedupID: "cleanup-1", ReceiveCount: 1,
				Attributes: map[string]string{domain.AttrEventType: domain.EventCleanupRun, domain.AttrSource: domain.SourceSchedule}}
			if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{msg}); (len(failed) > 0) != tt.wantFailed {
				t.Fatalf("failed = %v, want failed=%v", failed, tt.wantFailed)
			}
			if got, _ := b.dlq.Receive(b.ctx, 10, 0); (len(got) > 0) != tt.wantDLQ {
				t.Errorf("dlq holds %d, want dead-lettered=%v", len(got), tt.wantDLQ)
			}
			if stale == "" {
				return
			}
			wantStatus := domain.StatusCancelled
			if tt.wantDLQ {
				wantStatus = domain.StatusPending
			}
			if o := b.order(t, stale); o.Status != wantStatus {
				t.Errorf("stale order status = %s, want %s", o.Status, wantStatus)
			}
			if o := b.order(t, "ord_fresh"); o.Status != domain.StatusPending {
				t.Errorf("fresh order status = %s, want pending", o.Status)
			}
			if !tt.wantDLQ && !slices.Contains(b.store.Filters(), domain.Filter{Status: domain.StatusPending}) {
				t.Errorf("filters = %v, want the status index", b.store.Filters())
			}
		})
	}
}
