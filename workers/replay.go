package workers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
)

// Replay defaults.
const (
	// DefaultMaxReplays is MAX_REPLAYS' default (SPEC §9).
	DefaultMaxReplays = 3
	// DefaultReplayWait is how long one DLQ receive waits for a message; it
	// is also the cost of noticing that the DLQ has nothing more to give.
	DefaultReplayWait = time.Second
	// releaseTimeout bounds the final ChangeVisibility calls, which run even
	// when the caller's context has ended so nothing stays hidden.
	releaseTimeout = 30 * time.Second
)

// ReplayConfig configures a Replayer.
type ReplayConfig struct {
	// DLQ is the dead-letter queue redrive reads from.
	DLQ interface {
		domain.Queue
		domain.Inspector
	}
	// Events is the queue messages are moved back to.
	Events  domain.Queue
	Logger  *zap.Logger
	Metrics *metrics.Recorder
	// MaxReplays is how often one message may be moved back before it is
	// parked in the DLQ; 0 means DefaultMaxReplays.
	MaxReplays int
	// Clock dates the messages in the logs (ageSeconds).
	Clock domain.Clock
	// Progress, when set, is called with the number of DLQ messages examined
	// so far, for a progress bar.
	Progress func(done int)
	// ReceiveWait is the long-poll wait of each DLQ receive; 0 means
	// DefaultReplayWait.
	ReceiveWait time.Duration
}

// Validate reports every problem with the config at once.
func (c ReplayConfig) Validate() error {
	var problems []string
	if c.DLQ == nil {
		problems = append(problems, "no dead-letter queue")
	}
	if c.Events == nil {
		problems = append(problems, "no events queue")
	}
	if c.MaxReplays < 0 {
		problems = append(problems, fmt.Sprintf("max replays %d is negative", c.MaxReplays))
	}
	if c.ReceiveWait < 0 {
		problems = append(problems, fmt.Sprintf("receive wait %s is negative", c.ReceiveWait))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: replay config: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Replayer moves dead-lettered messages back to the events queue (SPEC §6):
// `orderflow dlq redrive` and the ReplayFunction Lambda.
type Replayer struct{ cfg ReplayConfig }

// NewReplayer validates cfg and fills its defaults.
func NewReplayer(cfg ReplayConfig) (*Replayer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxReplays == 0 {
		cfg.MaxReplays = DefaultMaxReplays
	}
	if cfg.ReceiveWait == 0 {
		cfg.ReceiveWait = DefaultReplayWait
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	return &Replayer{cfg: cfg}, nil
}

// RedriveOptions select what one redrive moves.
type RedriveOptions struct {
	// Limit is the most messages moved; 0 moves all.
	Limit int `json:"limit"`
	// Type moves only messages with this eventType; "" moves every type.
	Type string `json:"type"`
	// DryRun moves and deletes nothing; the summary says what would happen.
	DryRun bool `json:"dryRun"`
}

// RedriveSummary is what a redrive did (or, in a dry run, would do).
type RedriveSummary struct {
	Moved     int `json:"moved"`
	Parked    int `json:"parked"`
	Remaining int `json:"remaining"`
}

// redrive is the state of one Redrive run.
type redrive struct {
	r    *Replayer
	opts RedriveOptions
	sum  RedriveSummary
	// seen holds every DLQ message id examined in this run, so a message
	// received again (after a release or a visibility timeout) is not counted
	// or moved twice.
	seen map[string]bool
	// held maps the id of each received message that was not deleted to its
	// latest receipt and group; all are made visible again before returning.
	held map[string]heldMsg
	// groups lists the groups of held messages in the order first met.
	groups []string
	errs   []error
}

type heldMsg struct{ receipt, group string }

// hold keeps m hidden until it is released, remembering its newest receipt.
func (d *redrive) hold(m domain.Message) {
	if _, known := d.held[m.ID]; !known && !slices.Contains(d.groups, m.GroupID) {
		d.groups = append(d.groups, m.GroupID)
	}
	d.held[m.ID] = heldMsg{receipt: m.Receipt, group: m.GroupID}
}

// Redrive moves messages from the DLQ back to the events queue, keeping their
// group, body and attributes, with dedup id "<eventId>#replay-<n>" and
// attributes replayCount=n and source=replay. A message is deleted from the
// DLQ only after the events queue accepted it. A message already replayed
// MaxReplays times is parked: it stays in the DLQ for a person to look at.
//
// FIFO makes the loop subtle: while one message of a group is in flight the
// group's later messages are not delivered. So every message that is not
// deleted stays hidden while the run goes on (released at once, the oldest
// would come back on every receive and hide the rest), and a pass ends when
// a receive brings nothing new. Then the held groups are released a few at a
// time, so a receive returns their heads together with the group-mates
// queued behind them. Every message seen is tracked, so the run ends, and
// everything still held is released before returning, so no message waits
// for the visibility timeout. A message behind ten or more messages of its
// group that all stay in the DLQ cannot be reached (a receive returns at most
// ten); it is left for a later run.
func (r *Replayer) Redrive(ctx context.Context, o RedriveOptions) (RedriveSummary, error) {
	if o.Limit < 0 {
		return RedriveSummary{}, fmt.Errorf("%w: redrive limit %d is negative", domain.ErrInvalid, o.Limit)
	}
	d := &redrive{r: r, opts: o, seen: make(map[string]bool), held: make(map[string]heldMsg)}
	err := d.run(ctx)
	d.releaseAll(ctx)
	if err == nil {
		err = errors.Join(d.errs...)
	}
	// remaining is read even after a failure so the operator sees where the
	// DLQ stands; the context may be over, so it gets its own short one.
	statsCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	st, serr := r.cfg.DLQ.Stats(statsCtx)
	if serr != nil {
		err = errors.Join(err, fmt.Errorf("count remaining DLQ messages: %w", serr))
	}
	d.sum.Remaining = st.Visible + st.InFlight
	r.cfg.Logger.Info("redrive finished", zap.Int("moved", d.sum.Moved), zap.Int("parked", d.sum.Parked),
		zap.Int("remaining", d.sum.Remaining), zap.Bool("dryRun", o.DryRun), zap.String("type", o.Type), zap.Error(err))
	return d.sum, err
}

func (d *redrive) limitReached() bool { return d.opts.Limit > 0 && d.sum.Moved >= d.opts.Limit }

// run reads the whole DLQ once, then revisits the groups it had to hold.
func (d *redrive) run(ctx context.Context) error {
	if _, err := d.pass(ctx); err != nil || d.limitReached() {
		return err
	}
	groups := slices.Clone(d.groups)
	for len(groups) > 0 && !d.limitReached() {
		if d.nothingBehindHeld(ctx) {
			return nil
		}
		chunk := d.nextChunk(groups)
		groups = groups[len(chunk):]
		for !d.limitReached() {
			d.release(ctx, chunk)
			found, err := d.pass(ctx)
			if err != nil {
				return err
			}
			if found == 0 {
				break
			}
		}
	}
	return nil
}

// nothingBehindHeld reports whether every message left in the DLQ is one
// the run holds: then no held message hides a group-mate, and revisiting the
// held groups (a release and a receive, with its wait, per few groups) would
// find nothing. That is the common case after a dry run, or with many parked
// messages each in its own group, where revisiting took minutes. SQS's counts
// are approximate and lag deletes, so they can only make the run go on (the
// moved messages still counted), never stop it with a group-mate unseen,
// unless messages arrive in the DLQ during the run; those are left for the
// next run, as the count of remaining messages shows. A failed count goes on.
func (d *redrive) nothingBehindHeld(ctx context.Context) bool {
	st, err := d.r.cfg.DLQ.Stats(ctx)
	return err == nil && st.Visible+st.InFlight <= len(d.held)
}

// nextChunk takes groups from the front of groups until their held messages
// fill half a receive, so one receive has room for their group-mates.
func (d *redrive) nextChunk(groups []string) []string {
	count := make(map[string]int)
	for _, h := range d.held {
		count[h.group]++
	}
	n, total := 0, 0
	for n < len(groups) && (n == 0 || total+count[groups[n]] <= MaxBatch/2) {
		total += count[groups[n]]
		n++
	}
	return groups[:n]
}

// pass receives until nothing new comes and returns how many new messages it
// examined. Receives that bring only messages seen before (their visibility
// ran out) re-hide them; a bounded number of those in a row ends the pass, so
// it ends even if the visibility timeout is shorter than the pass.
func (d *redrive) pass(ctx context.Context) (found int, err error) {
	quiet := 0
	for quiet <= len(d.held)/MaxBatch && !d.limitReached() {
		msgs, err := d.r.cfg.DLQ.Receive(ctx, MaxBatch, d.r.cfg.ReceiveWait)
		if err != nil {
			for _, m := range msgs {
				d.hold(m)
			}
			return found, fmt.Errorf("receive from the DLQ: %w", err)
		}
		if len(msgs) == 0 {
			// Nothing is deliverable: every group left is held.
			return found, nil
		}
		fresh := 0
		for i, m := range msgs {
			if d.seen[m.ID] || d.limitReached() {
				// Seen before, or past the limit: keep it hidden and
				// untouched until the end.
				d.hold(m)
				continue
			}
			d.seen[m.ID] = true
			fresh++
			if err := d.handle(ctx, m); err != nil {
				for _, rest := range msgs[i+1:] {
					d.hold(rest)
				}
				return found + fresh, err
			}
			if p := d.r.cfg.Progress; p != nil {
				p(len(d.seen))
			}
		}
		found += fresh
		if fresh == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return found, nil
}

// handle decides one new DLQ message: leave it (other type), park it, or move it.
func (d *redrive) handle(ctx context.Context, m domain.Message) error {
	cfg := d.r.cfg
	typ := eventType(m)
	if d.opts.Type != "" && typ != d.opts.Type {
		d.hold(m)
		return nil
	}
	replays, err := replayCount(m)
	fields := append(msgFields(m, ""), zap.Int("replayCount", replays))
	if !m.SentAt.IsZero() {
		fields = append(fields, zap.Int64("ageSeconds", int64(cfg.Clock.Now().Sub(m.SentAt).Seconds())))
	}
	log := cfg.Logger.With(fields...)
	if err != nil {
		// A garbled count must not let a message loop for ever: count it as
		// used up, so it is parked for a person to look at.
		log.Warn("replayCount attribute is not a number; parking the message", zap.Error(err))
		replays = cfg.MaxReplays
	}
	dims := map[string]string{logging.FieldEventType: typ}
	if replays >= cfg.MaxReplays {
		d.hold(m)
		d.sum.Parked++
		if !d.opts.DryRun {
			cfg.Metrics.Count(metrics.DLQParked, 1, dims)
		}
		log.Warn("parked: replayed too often; left in the DLQ", zap.Int("maxReplays", cfg.MaxReplays), zap.Bool("dryRun", d.opts.DryRun))
		return nil
	}
	out := ReplayMessage(m, replays+1)
	if d.opts.DryRun {
		d.hold(m)
		d.sum.Moved++
		log.Info("would move back to the events queue", zap.String("dedupId", out.DedupID))
		return nil
	}
	if _, err := domain.Enqueue(ctx, cfg.Events, out); err != nil {
		d.hold(m)
		return fmt.Errorf("move DLQ message %s (event %s) back to the events queue: %w", m.ID, eventID(m), err)
	}
	d.sum.Moved++
	cfg.Metrics.Count(metrics.DLQMoved, 1, dims)
	if err := cfg.DLQ.Delete(ctx, m.Receipt); err != nil {
		// The copy is on the events queue already; the one left in the DLQ
		// is harmless (a later redrive resends it under the same dedup id,
		// and appliedEvents makes a second apply a no-op), but it is
		// reported so the operator knows the DLQ count is off by one.
		log.Warn("moved, but the DLQ copy could not be deleted", zap.Error(err))
		d.errs = append(d.errs, fmt.Errorf("delete DLQ message %s after moving it: %w", m.ID, err))
		return nil
	}
	log.Info("moved back to the events queue", zap.String("dedupId", out.DedupID))
	return nil
}

// releaseAll makes every held message visible again at once.
func (d *redrive) releaseAll(ctx context.Context) { d.release(ctx, nil) }

// release makes the held messages of groups (nil: all) visible again at once.
// It runs even if ctx has ended: a message left hidden blocks its group.
func (d *redrive) release(ctx context.Context, groups []string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	for id, h := range d.held {
		if groups != nil && !slices.Contains(groups, h.group) {
			continue
		}
		delete(d.held, id)
		err := d.r.cfg.DLQ.ChangeVisibility(rctx, h.receipt, 0)
		// ErrNotFound: its visibility timeout ran out already, so it is
		// visible (or was received again, and that receipt is held instead).
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			d.r.cfg.Logger.Warn("could not release a DLQ message; it reappears after the visibility timeout",
				zap.String("messageId", id), zap.Error(err))
		}
	}
}

// replayCount reads the replayCount attribute; absent means never replayed.
func replayCount(m domain.Message) (int, error) {
	s := strings.TrimSpace(m.Attributes[domain.AttrReplayCount])
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: replayCount %q", domain.ErrInvalid, s)
	}
	return n, nil
}

// ReplayMessage is the events-queue copy of a DLQ message for its n-th
// replay: same body, group and attributes, minus lastError (it described the
// previous attempt), with replayCount=n, source=replay and dedup id
// "<eventId>#replay-<n>". The dedup id differs from the original's so the
// queue's deduplication window does not drop it, and differs per replay so
// each replay is delivered once.
func ReplayMessage(m domain.Message, n int) domain.OutgoingMessage {
	attrs := maps.Clone(m.Attributes)
	if attrs == nil {
		attrs = make(map[string]string, 2)
	}
	delete(attrs, domain.AttrLastError)
	attrs[domain.AttrReplayCount] = strconv.Itoa(n)
	attrs[domain.AttrSource] = domain.SourceReplay
	base := eventID(m)
	if base == "" {
		base = m.ID
	}
	// An earlier replay's dedup id already carries a suffix; keep one.
	base, _, _ = strings.Cut(base, "#")
	group := m.GroupID
	if group == "" {
		group = m.ID
	}
	return domain.OutgoingMessage{
		Body:       m.Body,
		GroupID:    group,
		DedupID:    fmt.Sprintf("%s#replay-%d", base, n),
		Attributes: attrs,
	}
}
