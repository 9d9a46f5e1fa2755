package workers_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/metrics"
	"github.com/orderflow/orderflow/infra/sqlite"
	"github.com/orderflow/orderflow/workers"
)

// epoch is the tests' "now"; events are created relative to it.
var epoch = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// syncBuffer collects metric lines written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recordingStore is the real store, remembering the filters it was listed
// with so tests can prove which index a worker asked for.
type recordingStore struct {
	domain.Store
	mu      sync.Mutex
	filters []domain.Filter
}

func (s *recordingStore) List(ctx context.Context, f domain.Filter, fn func(domain.Order) error) error {
	s.mu.Lock()
	s.filters = append(s.filters, f)
	s.mu.Unlock()
	return s.Store.List(ctx, f, fn)
}

func (s *recordingStore) Filters() []domain.Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]domain.Filter(nil), s.filters...)
}

const visibility = 30 * time.Second

// bundle is everything one test needs, on its own SQLite database.
type bundle struct {
	ctx     context.Context
	clock   *domain.ManualClock
	store   *recordingStore
	events  *sqlite.Queue
	dlq     *sqlite.Queue
	deps    workers.Deps
	disp    *workers.Dispatcher
	metrics *syncBuffer
	logs    *observer.ObservedLogs
}

type setupOpts struct {
	noDeadLetter bool
	extra        map[string]workers.Handler
	concurrency  int // 0: the dispatcher's default
}

func setup(t testing.TB, opts ...setupOpts) *bundle {
	t.Helper()
	var o setupOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard only
	t.Cleanup(cancel)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "orderflow.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	clock := domain.NewManualClock(epoch)
	dlq := newQueue(t, db, sqlite.QueueConfig{Name: "orderflow-events-dlq-test.fifo", VisibilityTimeout: visibility, DedupWindow: 5 * time.Minute, Clock: clock})
	events := newQueue(t, db, sqlite.QueueConfig{Name: "orderflow-events-test.fifo", VisibilityTimeout: visibility, MaxReceives: 5, DeadLetterQueue: dlqName, DedupWindow: 5 * time.Minute, Clock: clock})
	store := &recordingStore{Store: sqlite.NewStore(db)}
	core, logs := observer.New(zap.DebugLevel)
	logger := zap.New(core)
	buf := &syncBuffer{}
	rec := metrics.New(buf)
	deps := workers.Deps{Store: store, Clock: clock, Logger: logger, Metrics: rec, CleanupAfter: time.Hour}
	handlers := workers.StandardHandlers(deps)
	for k, h := range o.extra {
		handlers[k] = h
	}
	cfg := workers.Config{Handlers: handlers, Logger: logger, Metrics: rec, RetryBudget: 30 * time.Millisecond, Clock: clock, Concurrency: o.concurrency}
	if !o.noDeadLetter {
		cfg.DeadLetter = dlq
	}
	disp, err := workers.NewDispatcher(cfg)
	if err != nil {
		t.Fatalf("NewDispatcher: %v", err)
	}
	return &bundle{ctx: ctx, clock: clock, store: store, events: events, dlq: dlq, deps: deps, disp: disp, metrics: buf, logs: logs}
}

const dlqName = "orderflow-events-dlq-test.fifo"

func newQueue(t testing.TB, db *sqlite.DB, cfg sqlite.QueueConfig) *sqlite.Queue {
	t.Helper()
	q, err := sqlite.NewQueue(db, cfg)
	if err != nil {
		t.Fatalf("new queue %s: %v", cfg.Name, err)
	}
	return q
}

// fixture reads a Stripe event fixture and rewrites its placeholders: the
// event id prefix gets tag, the order id and payment intent the given ones;
// extra holds further old/new pairs.
func fixture(t testing.TB, file, tag, orderID, pi string, extra ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", file))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	s := string(raw)
	pairs := append([]string{
		"evt_fixture", "evt_" + tag,
		"ord_fixture", orderID,
		"pi_fixture", pi,
		"ch_fixture", "ch_" + tag,
	}, extra...)
	for i := 0; i+1 < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return []byte(s)
}

// message wraps an event body as the Lambda or the queue would deliver it.
func message(t testing.TB, id string, body []byte, group string) domain.Message {
	t.Helper()
	ev, err := domain.ParseEvent(body)
	if err != nil {
		t.Fatalf("fixture does not parse: %v", err)
	}
	if group == "" {
		group = ev.GroupID()
	}
	return domain.Message{
		ID: id, Body: body, GroupID: group, DedupID: ev.ID, ReceiveCount: 1,
		Attributes: map[string]string{domain.AttrEventType: ev.Type, domain.AttrEventID: ev.ID, domain.AttrSource: domain.SourceWebhook},
	}
}

// outgoing is the ingress's view of an event body.
func outgoing(t testing.TB, body []byte) domain.OutgoingMessage {
	t.Helper()
	m := message(t, "", body, "")
	return domain.OutgoingMessage{Body: m.Body, GroupID: m.GroupID, DedupID: m.DedupID, Attributes: m.Attributes}
}

// createOrder writes a pending 2000 usd order for user u_1 and lets edit
// adjust it first.
func (b *bundle) createOrder(t testing.TB, id, pi string, edit func(*domain.Order)) {
	t.Helper()
	o := domain.Order{ID: id, UserID: "u_1", SellerID: "s_1", ProductID: "p_1", Amount: 2000, Currency: "usd", StripePaymentIntentID: pi}
	if edit != nil {
		edit(&o)
	}
	o, err := domain.NewOrder(o, b.clock.Now())
	if err != nil {
		t.Fatalf("new order: %v", err)
	}
	if err := b.store.Create(b.ctx, o); err != nil {
		t.Fatalf("create order %s: %v", id, err)
	}
}

func (b *bundle) order(t *testing.T, id string) domain.Order {
	t.Helper()
	o, err := b.store.Get(b.ctx, id)
	if err != nil {
		t.Fatalf("get order %s: %v", id, err)
	}
	return o
}

func timelineTypes(o domain.Order) []string {
	types := make([]string, len(o.Timeline))
	for i, e := range o.Timeline {
		types[i] = e.Type
	}
	return types
}

// metricCount counts EMF lines for metric name.
func (b *bundle) metricCount(name string) int {
	return strings.Count(b.metrics.String(), `"Name":"`+name+`"`)
}

func zapString(k, v string) zap.Field { return zap.String(k, v) }
