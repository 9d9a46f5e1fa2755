package workers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
	"github.com/orderflow/orderflow/workers"
)

func TestProcessBatchFIFOPartialFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_a", "pi_a", nil)
	b.createOrder(t, "ord_b", "pi_b", nil)
	// A2 is about an order that does not exist yet (neither its
	// metadata.orderId nor its payment intent names one): a transient
	// failure. A3 would refund ord_a; it must not run once A2 failed.
	a1 := message(t, "a1", fixture(t, "payment_intent.succeeded.json", "a", "ord_a", "pi_a"), "A")
	a2 := message(t, "a2", fixture(t, "payment_intent.payment_failed.json", "a_missing", "ord_missing", "pi_a_missing"), "A")
	a3 := message(t, "a3", fixture(t, "charge.refunded.json", "a", "ord_a", "pi_a"), "A")
	b1 := message(t, "b1", fixture(t, "payment_intent.succeeded.json", "b", "ord_b", "pi_b"), "B")
	b2 := message(t, "b2", fixture(t, "charge.refunded.json", "b", "ord_b", "pi_b"), "B")

	failed := b.disp.ProcessBatch(b.ctx, []domain.Message{a1, b1, a2, a3, b2})
	if !slices.Equal(failed, []string{"a2", "a3"}) {
		t.Fatalf("failed = %v, want [a2 a3]", failed)
	}
	a := b.order(t, "ord_a")
	if a.Status != domain.StatusCompleted || !slices.Equal(timelineTypes(a), []string{domain.EntryPaymentSucceeded}) {
		t.Errorf("ord_a = %s %v, want completed with only A1 applied (A3 not processed)", a.Status, timelineTypes(a))
	}
	bo := b.order(t, "ord_b")
	if bo.Status != domain.StatusRefunded || len(bo.Timeline) != 2 {
		t.Errorf("ord_b = %s %v, want refunded after B1 and B2", bo.Status, timelineTypes(bo))
	}
	// A3 was never handed to a handler: no log line says it was applied.
	for _, e := range b.logs.FilterMessage("event applied").All() {
		if e.ContextMap()[logging.FieldEventID] == "evt_a_charge_refunded" {
			t.Errorf("A3 was processed: %v", e.ContextMap())
		}
	}
	if n := b.logs.FilterMessage("skipped: an earlier message of its group failed in this batch").Len(); n != 1 {
		t.Errorf("skip lines = %d, want 1 (A3)", n)
	}
}

func TestPermanentFailuresGoToDeadLetter(t *testing.T) {
	t.Parallel()
	garbage := []byte(`{"this is": not json`)
	tests := []struct {
		name      string
		msg       func(t *testing.T) domain.Message
		wantError string
	}{
		{
			name: "unknown eventType",
			msg: func(t *testing.T) domain.Message {
				return message(t, "m1", fixture(t, "customer.created.json", "u", "ord_u", "pi_u"), "grp_u")
			},
			wantError: "unknown eventType",
		},
		{
			name: "garbage body",
			msg: func(t *testing.T) domain.Message {
				return domain.Message{ID: "m1", Body: garbage, GroupID: "grp_g", DedupID: "evt_garbage", ReceiveCount: 1,
					Attributes: map[string]string{domain.AttrEventType: domain.EventPaymentSucceeded, domain.AttrEventID: "evt_garbage", domain.AttrSource: domain.SourceWebhook}}
			},
			wantError: "not JSON",
		},
		{
			name: "no eventType attribute",
			msg: func(t *testing.T) domain.Message {
				m := message(t, "m1", fixture(t, "payment_intent.succeeded.json", "na", "ord_na", "pi_na"), "")
				delete(m.Attributes, domain.AttrEventType)
				return m
			},
			wantError: "unknown eventType",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			msg := tt.msg(t)
			if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{msg}); len(failed) != 0 {
				t.Fatalf("failed = %v, want the message acknowledged after dead-lettering", failed)
			}
			got, err := b.dlq.Receive(b.ctx, 10, 0)
			if err != nil {
				t.Fatalf("receive dlq: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("dlq holds %d messages, want 1", len(got))
			}
			d := got[0]
			if string(d.Body) != string(msg.Body) || d.GroupID != msg.GroupID || d.DedupID != msg.DedupID {
				t.Errorf("dlq message body/group/dedup = %q/%q/%q, want the original's", d.Body, d.GroupID, d.DedupID)
			}
			for k, v := range msg.Attributes {
				if d.Attributes[k] != v {
					t.Errorf("dlq attribute %s = %q, want %q", k, d.Attributes[k], v)
				}
			}
			if le := d.Attributes[domain.AttrLastError]; !strings.Contains(le, tt.wantError) {
				t.Errorf("lastError = %q, want it to mention %q", le, tt.wantError)
			}
			if n := b.metricCount(metrics.EventsDeadLettered); n != 1 {
				t.Errorf("EventsDeadLettered recorded %d times, want 1", n)
			}
		})
	}
}

func TestPermanentFailureWithoutDeadLetterFails(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noDeadLetter: true})
	msg := message(t, "m1", fixture(t, "customer.created.json", "u", "ord_u", "pi_u"), "grp_u")
	if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{msg}); !slices.Equal(failed, []string{"m1"}) {
		t.Fatalf("failed = %v, want [m1]", failed)
	}
}

func TestOrderNotFoundIsRetriedUntilItExists(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := fixture(t, "payment_intent.succeeded.json", "late", "ord_late", "pi_late")
	if _, err := b.events.Send(b.ctx, outgoing(t, body)); err != nil {
		t.Fatalf("send: %v", err)
	}
	first := receiveOne(t, b)
	if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{first}); !slices.Equal(failed, []string{first.ID}) {
		t.Fatalf("failed = %v, want [%s] (order not written yet)", failed, first.ID)
	}
	if got, _ := b.dlq.Receive(b.ctx, 10, 0); len(got) != 0 {
		t.Fatalf("a missing order was dead-lettered at once; it must be retryable")
	}

	b.createOrder(t, "ord_late", "pi_late", nil)
	b.clock.Advance(visibility + time.Second) // the failed message becomes visible again
	second := receiveOne(t, b)
	if second.ReceiveCount != 2 {
		t.Errorf("receiveCount = %d, want 2", second.ReceiveCount)
	}
	if failed := b.disp.ProcessBatch(b.ctx, []domain.Message{second, second}); len(failed) != 0 {
		t.Fatalf("redelivery failed = %v", failed)
	}
	o := b.order(t, "ord_late")
	if o.Status != domain.StatusCompleted || len(o.Timeline) != 1 {
		t.Errorf("order = %s %v, want completed with one entry", o.Status, timelineTypes(o))
	}
}

func receiveOne(t *testing.T, b *bundle) domain.Message {
	t.Helper()
	got, err := b.events.Receive(b.ctx, 10, 0)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("received %d messages, want 1", len(got))
	}
	return got[0]
}

func TestTransientErrorsAreRetriedPermanentAreNot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		errs         []error // returned by successive attempts; then nil
		wantFailed   bool
		wantAttempts int32
	}{
		{name: "conflicts then success", errs: []error{domain.ErrConflict, fmt.Errorf("throttled: %w", domain.ErrConflict)}, wantAttempts: 3},
		{name: "permanent is not retried", errs: []error{domain.Permanentf("bad")}, wantFailed: true, wantAttempts: 1},
		{name: "invalid is not retried", errs: []error{fmt.Errorf("x: %w", domain.ErrInvalid)}, wantFailed: true, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			h := workers.HandlerFunc(func(ctx context.Context, msg domain.Message) error {
				n := attempts.Add(1)
				if int(n) <= len(tt.errs) {
					return tt.errs[n-1]
				}
				return nil
			})
			d, err := workers.NewDispatcher(workers.Config{Handlers: map[string]workers.Handler{"test.flaky": h}, RetryBudget: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			msg := domain.Message{ID: "m1", GroupID: "g", Body: []byte(`{}`), Attributes: map[string]string{domain.AttrEventType: "test.flaky"}}
			failed := d.ProcessBatch(context.Background(), []domain.Message{msg})
			if (len(failed) > 0) != tt.wantFailed {
				t.Errorf("failed = %v, want failed=%v", failed, tt.wantFailed)
			}
			if got := attempts.Load(); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
		})
	}
}

func TestTransientErrorGivesUpWithinBudget(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	h := workers.HandlerFunc(func(ctx context.Context, msg domain.Message) error {
		attempts.Add(1)
		return errors.New("network down")
	})
	d, err := workers.NewDispatcher(workers.Config{Handlers: map[string]workers.Handler{"test.down": h}, RetryBudget: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	msg := domain.Message{ID: "m1", GroupID: "g", Attributes: map[string]string{domain.AttrEventType: "test.down"}}
	if failed := d.ProcessBatch(context.Background(), []domain.Message{msg}); !slices.Equal(failed, []string{"m1"}) {
		t.Fatalf("failed = %v, want [m1]", failed)
	}
	if attempts.Load() < 2 {
		t.Errorf("attempts = %d, want retries before giving up", attempts.Load())
	}
}

func TestNewDispatcherValidates(t *testing.T) {
	t.Parallel()
	ok := workers.HandlerFunc(func(context.Context, domain.Message) error { return nil })
	tests := []struct {
		name string
		cfg  workers.Config
		want []string // every problem must be reported
	}{
		{name: "valid", cfg: workers.Config{Handlers: map[string]workers.Handler{"x": ok}}},
		{name: "empty", cfg: workers.Config{RetryBudget: -time.Second}, want: []string{"no handlers", "negative"}},
		{name: "nil handler and huge budget", cfg: workers.Config{Handlers: map[string]workers.Handler{"x": nil, "": ok}, RetryBudget: time.Hour},
			want: []string{`handler for "x" is nil`, "empty eventType", "above"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := workers.NewDispatcher(tt.cfg)
			if (err != nil) != (len(tt.want) > 0) {
				t.Fatalf("err = %v, want problems %v", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestLogLinesCarryMessageFields(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_log", "pi_log", nil)
	msgs := []domain.Message{
		message(t, "m1", fixture(t, "payment_intent.succeeded.json", "log", "ord_log", "pi_log", `"amount_received": 2000`, `"amount_received": 1`), ""),
		message(t, "m2", fixture(t, "charge.refunded.json", "log", "ord_missing", "pi_missing"), ""),
	}
	b.disp.ProcessBatch(b.ctx, msgs)
	entries := b.logs.All()
	if len(entries) == 0 {
		t.Fatal("no log lines")
	}
	withOrder := 0
	for _, e := range entries {
		m := e.ContextMap()
		for _, f := range []string{logging.FieldEventID, logging.FieldEventType, logging.FieldGroup, logging.FieldReceiveCount} {
			if _, ok := m[f]; !ok {
				t.Errorf("log %q lacks %s: %v", e.Message, f, m)
			}
		}
		if m[logging.FieldOrderID] != nil {
			withOrder++
		}
	}
	if withOrder == 0 {
		t.Error("no log line names the order")
	}
	if n := b.logs.FilterMessage("order flagged for review").FilterField(zapString(logging.FieldOrderID, "ord_log")).Len(); n != 1 {
		t.Errorf("flag lines with orderId = %d, want 1", n)
	}
}
