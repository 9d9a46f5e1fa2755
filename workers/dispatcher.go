package workers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/metrics"
)

// Dispatcher defaults and limits.
const (
	// DefaultRetryBudget bounds in-process backoff per message; far below the
	// 30 s default visibility timeout so a retried message is never
	// redelivered while still being worked on.
	DefaultRetryBudget = 5 * time.Second
	// MaxRetryBudget is the most Validate accepts: a Lambda runs at most
	// 15 minutes, and the budget must stay well inside the visibility timeout.
	MaxRetryBudget = 5 * time.Minute
	// MaxBatch is the SQS receive and Lambda batch limit.
	MaxBatch = 10
	// ReceiveWait is Run's long-poll wait.
	ReceiveWait = time.Second
	// maxReasonLen keeps the lastError attribute short.
	maxReasonLen = 256
)

// Config configures a Dispatcher.
type Config struct {
	// Handlers routes messages by their eventType attribute.
	Handlers map[string]Handler
	// DeadLetter, when set, receives permanent failures (domain.IsPermanent,
	// unknown eventType, unparsable body) directly, with attribute lastError;
	// the original is then acknowledged. Without it they just fail and reach
	// the DLQ through the queue's receive limit.
	DeadLetter domain.Queue
	Logger     *zap.Logger
	Metrics    *metrics.Recorder
	// RetryBudget is the most in-process backoff per message for transient
	// errors; default DefaultRetryBudget.
	RetryBudget time.Duration
	Clock       domain.Clock
}

// Validate reports every problem with the config at once.
func (c Config) Validate() error {
	var problems []string
	if len(c.Handlers) == 0 {
		problems = append(problems, "no handlers")
	}
	for typ, h := range c.Handlers {
		if strings.TrimSpace(typ) == "" {
			problems = append(problems, "a handler has an empty eventType")
		}
		if h == nil {
			problems = append(problems, fmt.Sprintf("handler for %q is nil", typ))
		}
	}
	if c.RetryBudget < 0 {
		problems = append(problems, fmt.Sprintf("retry budget %s is negative", c.RetryBudget))
	}
	if c.RetryBudget > MaxRetryBudget {
		problems = append(problems, fmt.Sprintf("retry budget %s is above %s", c.RetryBudget, MaxRetryBudget))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: workers config: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Dispatcher routes queue messages to typed handlers.
type Dispatcher struct{ cfg Config }

// NewDispatcher validates cfg and fills its defaults.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RetryBudget == 0 {
		cfg.RetryBudget = DefaultRetryBudget
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	cfg.Handlers = maps.Clone(cfg.Handlers)
	return &Dispatcher{cfg: cfg}, nil
}

// ProcessBatch handles up to MaxBatch messages in order and returns the IDs of
// those that failed. It is FIFO-aware: once a message of a group fails, the
// later messages of that group are reported failed without being processed,
// so they are never applied out of order; other groups go on.
func (d *Dispatcher) ProcessBatch(ctx context.Context, msgs []domain.Message) (failed []string) {
	for _, f := range d.processBatch(ctx, msgs) {
		failed = append(failed, f.msg.ID)
	}
	return failed
}

// failure is a message left for redelivery and why.
type failure struct {
	msg    domain.Message
	reason error
}

// errGroupBlocked is the reason of a message skipped behind a failed one.
var errGroupBlocked = errors.New("not processed: an earlier message of its group failed in the same batch")

func (d *Dispatcher) processBatch(ctx context.Context, msgs []domain.Message) []failure {
	var failed []failure
	blocked := make(map[string]bool)
	for _, msg := range msgs {
		log := d.cfg.Logger.With(msgFields(msg, "")...)
		if msg.GroupID != "" && blocked[msg.GroupID] {
			log.Warn("skipped: an earlier message of its group failed in this batch")
			failed = append(failed, failure{msg, errGroupBlocked})
			continue
		}
		if err := ctx.Err(); err != nil {
			log.Warn("not processed: context done", zap.Error(err))
			failed = append(failed, failure{msg, err})
			blocked[msg.GroupID] = true
			continue
		}
		if err := d.process(ctx, msg); err != nil {
			failed = append(failed, failure{msg, err})
			if msg.GroupID != "" {
				blocked[msg.GroupID] = true
			}
		}
	}
	return failed
}

// process handles one message; nil means it may be acknowledged.
func (d *Dispatcher) process(ctx context.Context, msg domain.Message) error {
	state := &msgState{}
	ctx = withState(ctx, state)
	err := d.handleWithRetry(ctx, msg, state)
	log := d.cfg.Logger.With(msgFields(msg, state.orderID)...)
	switch {
	case err == nil:
		return nil
	case isPermanent(err):
		if d.deadLetter(ctx, log, msg, err) {
			return nil
		}
		return err
	default:
		log.Warn("message failed; left for redelivery", zap.Error(err))
		return err
	}
}

// handleWithRetry runs the handler, retrying transient errors with
// exponential backoff and jitter until RetryBudget or ctx runs out.
func (d *Dispatcher) handleWithRetry(ctx context.Context, msg domain.Message, state *msgState) error {
	typ := eventType(msg)
	h, ok := d.cfg.Handlers[typ]
	if !ok {
		return domain.Permanentf("%w: unknown eventType %q", domain.ErrInvalid, typ)
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(min(100*time.Millisecond, d.cfg.RetryBudget/4)),
		backoff.WithMaxInterval(max(d.cfg.RetryBudget/2, time.Millisecond)),
		backoff.WithMaxElapsedTime(d.cfg.RetryBudget),
	)
	var last error
	attempt := 0
	op := func() error {
		attempt++
		last = safeHandle(ctx, h, msg)
		if last != nil && isPermanent(last) {
			return backoff.Permanent(last)
		}
		return last
	}
	notify := func(err error, wait time.Duration) {
		d.cfg.Logger.Info("transient failure; retrying",
			append(msgFields(msg, state.orderID), zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))...)
	}
	err := backoff.RetryNotify(op, backoff.WithContext(b, ctx), notify)
	if err != nil && last != nil && !errors.Is(err, last) {
		// The context ended the retries; keep the handler's error for the log.
		return fmt.Errorf("%w (retries stopped: %v)", last, err)
	}
	return err
}

// safeHandle turns a handler panic into an error so one bad message cannot
// take down the worker; it stays transient so the receive limit decides.
func safeHandle(ctx context.Context, h Handler, msg domain.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h.Handle(ctx, msg)
}

// isPermanent reports whether no retry can help: marked permanent, or input
// the domain rejected as malformed.
func isPermanent(err error) bool {
	return domain.IsPermanent(err) || errors.Is(err, domain.ErrInvalid)
}

// deadLetter sends a permanently failed message to the DLQ and reports whether
// the original may be acknowledged.
func (d *Dispatcher) deadLetter(ctx context.Context, log *zap.Logger, msg domain.Message, cause error) bool {
	if d.cfg.DeadLetter == nil {
		log.Error("permanent failure; no dead-letter queue configured, left for the receive limit", zap.Error(cause))
		return false
	}
	attrs := maps.Clone(msg.Attributes)
	if attrs == nil {
		attrs = make(map[string]string, 1)
	}
	attrs[domain.AttrLastError] = shortReason(cause)
	out := domain.OutgoingMessage{Body: msg.Body, GroupID: msg.GroupID, DedupID: msg.DedupID, Attributes: attrs}
	if out.GroupID == "" {
		out.GroupID = msg.ID
	}
	if out.DedupID == "" {
		out.DedupID = msg.ID
	}
	// A message that failed for good must not be lost because the worker's
	// context is ending: the send finishes even then.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := d.cfg.DeadLetter.Send(sendCtx, out); err != nil {
		log.Error("permanent failure; dead-letter send failed, left for the receive limit", zap.Error(cause), zap.NamedError("sendError", err))
		return false
	}
	d.cfg.Metrics.Count(metrics.EventsDeadLettered, 1, map[string]string{"eventType": eventType(msg)})
	log.Error("permanent failure; moved to the dead-letter queue", zap.Error(cause))
	return true
}

// shortReason is the lastError attribute: one line, bounded.
func shortReason(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > maxReasonLen {
		s = strings.ToValidUTF8(s[:maxReasonLen], "") + "…"
	}
	return s
}

// failureRecorder is implemented by queues that can keep why a message
// failed (the SQLite queue); the reason becomes the lastError attribute if
// the message is moved to the dead-letter queue. SQS cannot change a
// message, so there lastError is only known for permanent failures.
type failureRecorder interface {
	RecordFailure(ctx context.Context, receipt, reason string) error
}

// Run polls q, processes each batch and deletes what succeeded; failures are
// left for the visibility timeout, as SQS with Lambda does. When ctx ends it
// stops receiving, finishes the batch in hand and returns nil.
func (d *Dispatcher) Run(ctx context.Context, q domain.Queue) error {
	if q == nil {
		return fmt.Errorf("%w: workers: nil queue", domain.ErrInvalid)
	}
	pause := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(200*time.Millisecond),
		backoff.WithMaxInterval(30*time.Second),
		backoff.WithMaxElapsedTime(0),
	)
	for ctx.Err() == nil {
		msgs, err := q.Receive(ctx, MaxBatch, ReceiveWait)
		if len(msgs) > 0 {
			d.processAndDelete(ctx, q, msgs)
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

// processAndDelete finishes a received batch even if ctx ends meanwhile, so a
// shutdown drains the work in hand instead of abandoning it half-applied.
func (d *Dispatcher) processAndDelete(ctx context.Context, q domain.Queue, msgs []domain.Message) {
	work := context.WithoutCancel(ctx)
	failed := d.processBatch(work, msgs)
	bad := make(map[string]bool, len(failed))
	recorder, canRecord := q.(failureRecorder)
	for _, f := range failed {
		bad[f.msg.ID] = true
		if canRecord && f.reason != errGroupBlocked {
			if err := recorder.RecordFailure(work, f.msg.Receipt, shortReason(f.reason)); err != nil {
				d.cfg.Logger.Debug("could not record the failure reason", append(msgFields(f.msg, ""), zap.Error(err))...)
			}
		}
	}
	for _, msg := range msgs {
		if bad[msg.ID] {
			continue
		}
		if err := q.Delete(work, msg.Receipt); err != nil {
			// Redelivery is harmless: the applied-event check makes it a no-op.
			d.cfg.Logger.Warn("delete failed; the message will be redelivered", append(msgFields(msg, ""), zap.Error(err))...)
		}
	}
}
