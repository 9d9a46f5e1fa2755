package workers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/metrics"
)

// Dispatcher defaults and limits.
const (
	// DefaultRetryBudget bounds in-process backoff for a batch; far below the
	// 30 s default visibility timeout so a retried message is never
	// redelivered while still being worked on.
	DefaultRetryBudget = 5 * time.Second
	// MaxRetryBudget is the most Validate accepts: a Lambda runs at most
	// 15 minutes, and the budget must stay well inside the visibility timeout.
	MaxRetryBudget = 5 * time.Minute
	// DefaultBatchTime bounds a whole batch (BatchTime of the default 30 s
	// visibility timeout).
	DefaultBatchTime = 15 * time.Second
	// MaxBatchTime is the most Validate accepts: a Lambda's longest run.
	MaxBatchTime = 15 * time.Minute
	// DefaultConcurrency is how many groups of a batch are worked on at once:
	// a full batch of distinct payments in parallel.
	DefaultConcurrency = MaxBatch
	// MaxConcurrency is the most Validate accepts.
	MaxConcurrency = 100
	// DefaultNotYetDelay is the first delay of a message that cannot be
	// applied yet; it doubles with each receive up to DefaultMaxNotYetDelay.
	DefaultNotYetDelay = time.Second
	// DefaultMaxNotYetDelay caps the not-yet delay.
	DefaultMaxNotYetDelay = time.Minute
	// maxVisibility is SQS's longest visibility timeout.
	maxVisibility = 12 * time.Hour
	// MaxBatch is the SQS receive and Lambda batch limit.
	MaxBatch = 10
	// ReceiveWait is Run's long-poll wait.
	ReceiveWait = time.Second
)

// Config configures a Dispatcher.
type Config struct {
	// Handlers routes messages by their eventType attribute.
	Handlers map[string]Handler
	// DeadLetter, when set, receives permanent failures (domain.KindPermanent,
	// unknown eventType, unparsable body) directly, with attribute lastError;
	// the original is then acknowledged. Without it they just fail and reach
	// the DLQ through the queue's receive limit.
	DeadLetter domain.Queue
	// Events is the queue HandleSQS's batches come from, for sending to:
	// a message that cannot be applied yet, with later messages of its
	// group in the batch, is moved behind them (as Run does) instead of
	// holding the group until it dead-letters. nil: the group waits.
	Events  domain.Queue
	Logger  *zap.Logger
	Metrics *metrics.Recorder
	// RetryBudget is how long after a batch starts in-process retries of
	// transient errors may still begin; shared by the whole batch. Default
	// DefaultRetryBudget.
	RetryBudget time.Duration
	// BatchTime bounds a whole batch: messages not started by then are
	// returned unattempted and handlers still running are cancelled. Default
	// DefaultBatchTime; never below RetryBudget.
	BatchTime time.Duration
	// Concurrency is how many groups of one batch are worked on at once;
	// messages of one group are always handled one after the other. Default
	// DefaultConcurrency.
	Concurrency int
	// NotYetDelay and MaxNotYetDelay shape how long Run hides a message
	// that cannot be applied yet: NotYetDelay·2^(receiveCount-1), at most
	// MaxNotYetDelay. Defaults DefaultNotYetDelay and DefaultMaxNotYetDelay.
	NotYetDelay    time.Duration
	MaxNotYetDelay time.Duration
	// ConflictRetries is how many immediate re-runs a conflict gets; default
	// DefaultConflictRetries.
	ConflictRetries int
	Clock           domain.Clock
}

// Validate reports every problem with the config at once.
func (c Config) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(c.Handlers) == 0 {
		add("no handlers")
	}
	for typ, h := range c.Handlers {
		if strings.TrimSpace(typ) == "" {
			add("a handler has an empty eventType")
		}
		if h == nil {
			add("handler for %q is nil", typ)
		}
	}
	if c.RetryBudget < 0 {
		add("retry budget %s is negative", c.RetryBudget)
	}
	if c.RetryBudget > MaxRetryBudget {
		add("retry budget %s is above %s", c.RetryBudget, MaxRetryBudget)
	}
	if c.BatchTime < 0 {
		add("batch time %s is negative", c.BatchTime)
	}
	if c.BatchTime > MaxBatchTime {
		add("batch time %s is above %s", c.BatchTime, MaxBatchTime)
	}
	if d := c.withDefaults(); c.RetryBudget >= 0 && c.BatchTime >= 0 && d.RetryBudget > d.BatchTime {
		add("retry budget %s is above the batch time %s", d.RetryBudget, d.BatchTime)
	}
	if c.Concurrency < 0 || c.Concurrency > MaxConcurrency {
		add("concurrency %d is not between 1 and %d", c.Concurrency, MaxConcurrency)
	}
	if c.NotYetDelay < 0 || c.MaxNotYetDelay < 0 {
		add("not-yet delays must not be negative")
	}
	if c.MaxNotYetDelay > maxVisibility {
		add("max not-yet delay %s is above %s (the SQS limit)", c.MaxNotYetDelay, maxVisibility)
	}
	if c.NotYetDelay > 0 && c.MaxNotYetDelay > 0 && c.NotYetDelay > c.MaxNotYetDelay {
		add("not-yet delay %s is above its maximum %s", c.NotYetDelay, c.MaxNotYetDelay)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: workers config: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// withDefaults fills every zero tunable.
func (c Config) withDefaults() Config {
	if c.RetryBudget == 0 {
		c.RetryBudget = DefaultRetryBudget
	}
	if c.BatchTime == 0 {
		c.BatchTime = max(DefaultBatchTime, c.RetryBudget)
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.NotYetDelay == 0 {
		c.NotYetDelay = DefaultNotYetDelay
	}
	if c.MaxNotYetDelay == 0 {
		c.MaxNotYetDelay = max(DefaultMaxNotYetDelay, c.NotYetDelay)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Clock == nil {
		c.Clock = domain.SystemClock{}
	}
	return c
}

// Dispatcher routes queue messages to typed handlers. It keeps the FIFO
// batch rules (group order, partial failure, what goes back to the queue and
// when); recovering, retrying and dead-lettering are middleware around the
// handlers.
type Dispatcher struct {
	cfg Config
	// handler is the router wrapped in the middleware every path shares.
	handler Handler
}

// NewDispatcher validates cfg and fills its defaults.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Handlers = maps.Clone(cfg.Handlers)
	d := &Dispatcher{cfg: cfg}
	d.handler = Chain(HandlerFunc(d.route),
		DeadLetter(cfg.DeadLetter, cfg.Metrics, cfg.Logger),
		Retry(RetryConfig{
			InitialInterval: min(100*time.Millisecond, cfg.RetryBudget/4),
			MaxInterval:     max(cfg.RetryBudget/2, time.Millisecond),
			ConflictRetries: cfg.ConflictRetries,
			Logger:          cfg.Logger,
		}),
		Recoverer(),
	)
	return d, nil
}

// route hands msg to the handler of its eventType.
func (d *Dispatcher) route(ctx context.Context, msg domain.Message) error {
	typ := eventType(msg)
	h, ok := d.cfg.Handlers[typ]
	if !ok {
		return domain.Permanentf("%w: unknown eventType %q", domain.ErrInvalid, typ)
	}
	return h.Handle(ctx, msg)
}

// ProcessBatch handles up to MaxBatch messages and returns the IDs of those
// that failed, in batch order. It is FIFO-aware: once a message of a group
// fails, the later messages of that group are reported failed without being
// processed, so they are never applied out of order; other groups go on, in
// parallel up to Config.Concurrency.
func (d *Dispatcher) ProcessBatch(ctx context.Context, msgs []domain.Message) (failed []string) {
	for i, r := range d.processBatch(ctx, d.handler, msgs, false) {
		if r.err != nil {
			failed = append(failed, msgs[i].ID)
		}
	}
	return failed
}

// result is what became of one message of a batch.
type result struct {
	err error // nil: acknowledge
	// kind classifies err.
	kind domain.Kind
	// attempted is false for messages never handed to a handler: behind a
	// failed one of their group, or left when the batch ran out of time.
	attempted bool
	// deferred: not applicable yet, with later messages of its group behind
	// it in the batch, which went on; settle moves it to the back of its
	// group instead of letting it hold them up.
	deferred bool
}

// errGroupBlocked is the reason of a message skipped behind a failed one.
var errGroupBlocked = errors.New("not processed: an earlier message of its group failed in the same batch")

// processBatch runs msgs through h, each group in order on its own goroutine,
// and returns one result per message. The batch ends by BatchTime: no message
// starts after it, and the Retry middleware starts no retry after
// RetryBudget, so a batch always settles well inside the visibility timeout
// however many of its messages fail.
//
// With deferNotYet (Run, which can send to the queue) a not-yet message
// that has later messages of its group in the batch does not block them: it
// is marked deferred and settle moves it to the back of its group. That is
// safe because a payment's final state does not depend on the order its
// events are applied in (SPEC §3 "Newest wins"), and it is what lets a
// payment_intent.succeeded that names its order apply when a refund or
// dispute of the same payment, found only through the payment intent the
// success records, arrived first. HandleSQS does the same when it has the
// events queue to send to (Config.Events); without it the group waits.
func (d *Dispatcher) processBatch(ctx context.Context, h Handler, msgs []domain.Message, deferNotYet bool) []result {
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(d.cfg.BatchTime))
	defer cancel()
	ctx = withRetryDeadline(ctx, start.Add(d.cfg.RetryBudget))

	results := make([]result, len(msgs))
	groups := groupsOf(msgs)
	if len(groups) == 1 {
		d.processGroup(ctx, h, msgs, groups[0], results, deferNotYet)
		return results
	}
	sem := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, idx := range groups {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.processGroup(ctx, h, msgs, idx, results, deferNotYet)
		}()
	}
	wg.Wait()
	return results
}

// groupsOf returns the indexes of msgs per FIFO group, in batch order. A
// message without a group (a standard queue) is a group of its own: nothing
// orders it against the others.
func groupsOf(msgs []domain.Message) [][]int {
	var groups [][]int
	at := make(map[string]int, len(msgs))
	for i, m := range msgs {
		if m.GroupID != "" {
			if g, ok := at[m.GroupID]; ok {
				groups[g] = append(groups[g], i)
				continue
			}
			at[m.GroupID] = len(groups)
		}
		groups = append(groups, []int{i})
	}
	return groups
}

// processGroup handles the messages idx of one group in order; after the
// first failure the rest are skipped.
func (d *Dispatcher) processGroup(ctx context.Context, h Handler, msgs []domain.Message, idx []int, results []result, deferNotYet bool) {
	blocked := false
	for pos, i := range idx {
		msg := msgs[i]
		switch {
		case blocked:
			d.cfg.Logger.Warn("skipped: an earlier message of its group failed in this batch", msgFields(msg, "")...)
			results[i] = result{err: errGroupBlocked}
			continue
		case ctx.Err() != nil:
			err := fmt.Errorf("not processed: the batch ran out of time: %w", ctx.Err())
			d.cfg.Logger.Warn("not processed: the batch ran out of time; returned to the queue", msgFields(msg, "")...)
			results[i] = result{err: err}
			blocked = true
			continue
		}
		r := d.process(ctx, h, msg)
		if deferNotYet && r.kind == domain.KindNotYet && r.err != nil && pos < len(idx)-1 && msg.GroupID != "" {
			r.deferred = true
			results[i] = r
			continue
		}
		results[i] = r
		blocked = r.err != nil
	}
}

// process handles one message; a nil error means it may be acknowledged.
func (d *Dispatcher) process(ctx context.Context, h Handler, msg domain.Message) result {
	state := &msgState{}
	err := h.Handle(withState(ctx, state), msg)
	if err == nil {
		return result{attempted: true}
	}
	kind := kindOf(err)
	switch kind {
	case domain.KindPermanent:
		// DeadLetter has said why it could not move the message.
	case domain.KindNotYet:
		d.cfg.Logger.Info("cannot be applied yet; returned to the queue", append(msgFields(msg, state.orderID), zap.Error(err))...)
	default:
		d.cfg.Logger.Warn("message failed; left for redelivery", append(msgFields(msg, state.orderID), zap.String("kind", kind.String()), zap.Error(err))...)
	}
	return result{err: err, kind: kind, attempted: true}
}

// settleTimeout bounds the deletes and visibility changes after a batch.
const settleTimeout = 10 * time.Second

// Run polls q, processes each batch and settles it: what succeeded is
// deleted; a message that cannot be applied yet is hidden for a delay that
// grows with its receive count (ChangeVisibility) instead of holding a
// worker; messages never attempted are returned at once; other failures are
// left for the visibility timeout, as SQS with Lambda does. When q records
// failure reasons (domain.FailureRecorder) they are kept for the DLQ. When
// ctx ends Run stops receiving, finishes the batch in hand and returns nil.
func (d *Dispatcher) Run(ctx context.Context, q domain.Queue) error {
	if q == nil {
		return fmt.Errorf("%w: workers: nil queue", domain.ErrInvalid)
	}
	h := d.handler
	if rec, ok := q.(domain.FailureRecorder); ok {
		h = RecordFailures(rec, d.cfg.Logger)(h)
	}
	pause := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(200*time.Millisecond),
		backoff.WithMaxInterval(30*time.Second),
		backoff.WithMaxElapsedTime(0),
	)
	for ctx.Err() == nil {
		msgs, err := q.Receive(ctx, MaxBatch, ReceiveWait)
		if len(msgs) > 0 {
			// The batch in hand is finished even if ctx ends meanwhile, so a
			// shutdown drains it instead of abandoning it half-applied.
			work := context.WithoutCancel(ctx)
			d.settle(work, q, msgs, d.processBatch(work, h, msgs, true))
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			wait := pause.NextBackOff()
			d.cfg.Logger.Warn("receive failed; pausing", zap.Error(err), zap.Duration("wait", wait))
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		pause.Reset()
	}
	d.cfg.Logger.Info("worker stopped")
	return nil
}

// settle deletes, returns or leaves each message of a processed batch.
//
// Returning a skipped message at once cannot reorder its group: the failed
// message ahead of it is still in flight (hidden for its delay or the
// visibility timeout), and a FIFO queue delivers nothing of a group while one
// of its messages is in flight.
func (d *Dispatcher) settle(ctx context.Context, q domain.Queue, msgs []domain.Message, results []result) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	batch, _ := q.(domain.BatchDeleter)
	var done []int // messages to delete in one batch
	// Visibility changes run concurrently: on SQLite they then share a
	// group commit instead of waiting for one commit each, one after the
	// other (a batch of ten not-yet events took ten), and on SQS the calls
	// overlap. Their order does not matter: a message of a group returned
	// at once cannot be received while the failed one ahead of it is still
	// in flight, whichever change lands first.
	var changes sync.WaitGroup
	changeVisibility := func(msg domain.Message, after time.Duration) {
		changes.Go(func() { d.changeVisibility(ctx, q, msg, after) })
	}
	for i, msg := range msgs {
		r := results[i]
		switch {
		case r.err == nil && batch != nil:
			done = append(done, i)
		case r.err == nil:
			d.deleteFailed(msg, q.Delete(ctx, msg.Receipt))
		case !r.attempted:
			changeVisibility(msg, 0)
		case r.deferred:
			if d.requeue(ctx, q, msg) {
				if batch != nil {
					done = append(done, i)
				} else {
					d.deleteFailed(msg, q.Delete(ctx, msg.Receipt))
				}
				continue
			}
			changeVisibility(msg, notYetDelay(msg.ReceiveCount, d.cfg.NotYetDelay, d.cfg.MaxNotYetDelay))
		case r.kind == domain.KindNotYet:
			changeVisibility(msg, notYetDelay(msg.ReceiveCount, d.cfg.NotYetDelay, d.cfg.MaxNotYetDelay))
		}
	}
	defer changes.Wait()
	if len(done) > 0 {
		receipts := make([]string, len(done))
		for j, i := range done {
			receipts[j] = msgs[i].Receipt
		}
		for j, err := range batch.DeleteBatch(ctx, receipts) {
			d.deleteFailed(msgs[done[j]], err)
		}
	}
}

// deleteFailed logs a failed delete; redelivery is harmless: the
// applied-event check makes it a no-op.
func (d *Dispatcher) deleteFailed(msg domain.Message, err error) {
	if err != nil {
		d.cfg.Logger.Warn("delete failed; the message will be redelivered", append(msgFields(msg, ""), zap.Error(err))...)
	}
}

func (d *Dispatcher) changeVisibility(ctx context.Context, q domain.Queue, msg domain.Message, after time.Duration) {
	if err := q.ChangeVisibility(ctx, msg.Receipt, after); err != nil {
		// Harmless: the message comes back after the visibility timeout.
		d.cfg.Logger.Warn("could not return the message to the queue early; it comes back after the visibility timeout",
			append(msgFields(msg, ""), zap.Duration("delay", after), zap.Error(err))...)
	}
}

// requeue sends a deferred message to the back of its group and reports
// whether it did; the original may then be deleted. The copy's dedup id
// counts the deferrals (<eventId>#later-<n>, attribute laterCount), so a
// redelivered original deferred again is dropped as a duplicate rather than
// queued twice. Its receive count starts again, but a message is deferred
// only while later messages of its group are behind it: once alone it takes
// the not-yet delays and reaches the DLQ after the receive limit as before.
func (d *Dispatcher) requeue(ctx context.Context, q domain.Queue, msg domain.Message) bool {
	n := 1
	if v, err := strconv.Atoi(msg.Attributes[attrLaterCount]); err == nil && v > 0 {
		n = v + 1
	}
	attrs := maps.Clone(msg.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs[attrLaterCount] = strconv.Itoa(n)
	out := domain.OutgoingMessage{Body: msg.Body, GroupID: msg.GroupID, DedupID: fmt.Sprintf("%s#later-%d", eventID(msg), n), Attributes: attrs}
	if _, err := domain.Enqueue(ctx, q, out); err != nil {
		d.cfg.Logger.Warn("could not move a not-yet message behind its group; it waits its delay instead", append(msgFields(msg, ""), zap.Error(err))...)
		return false
	}
	d.cfg.Logger.Info("cannot be applied yet; moved behind the later messages of its group", msgFields(msg, "")...)
	return true
}

// attrLaterCount counts how often a message was moved behind its group.
const attrLaterCount = "laterCount"
