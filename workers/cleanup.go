package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/logging"
)

// Cleanup cancels pending orders whose payment failed long enough ago
// (SPEC §7). It runs from the scheduled cleanup.run message, the operator
// command and the cleanup Lambda.
type Cleanup struct{ deps Deps }

// NewCleanup returns the cleanup worker.
func NewCleanup(d Deps) *Cleanup { return &Cleanup{deps: d.withDefaults()} }

// Handle runs a cleanup for a {"type":"cleanup.run"} message with
// Deps.CleanupAfter.
func (c *Cleanup) Handle(ctx context.Context, msg domain.Message) error {
	if body := bytes.TrimSpace(msg.Body); len(body) > 0 {
		var m struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return domain.Permanentf("%w: cleanup message is not JSON: %v", domain.ErrInvalid, err)
		}
		if m.Type != "" && m.Type != domain.EventCleanupRun {
			return domain.Permanentf("%w: cleanup message has type %q, want %q", domain.ErrInvalid, m.Type, domain.EventCleanupRun)
		}
	}
	log := c.deps.Logger.With(msgFields(msg, "")...)
	n, err := c.run(ctx, log, c.deps.CleanupAfter)
	log.Info("cleanup finished", zap.Int("cancelled", n), zap.Error(err))
	return err
}

// Run cancels every pending order whose payment failed at or before
// now-olderThan and reports how many it cancelled. Candidates come only from
// the status index (pending), never from a scan; each cancel is its own
// conditional write through the transition table, so an order paid meanwhile
// is left alone.
func (c *Cleanup) Run(ctx context.Context, olderThan time.Duration) (cancelled int, err error) {
	return c.run(ctx, c.deps.Logger, olderThan)
}

func (c *Cleanup) run(ctx context.Context, log *zap.Logger, olderThan time.Duration) (cancelled int, err error) {
	if olderThan < 0 {
		return 0, domain.Permanentf("%w: cleanup age %s is negative", domain.ErrInvalid, olderThan)
	}
	now := c.deps.Clock.Now().UTC()
	cutoff := now.Add(-olderThan)

	// Collect first and write after: writing while the listing is open would
	// hold a read cursor across writes (SQLite) or page over moving data.
	var ids []string
	err = c.deps.Store.List(ctx, domain.Filter{Status: domain.StatusPending}, func(o domain.Order) error {
		if o.PaymentStatus == domain.PaymentFailed && o.PaymentFailedAt != nil && !o.PaymentFailedAt.After(cutoff) {
			ids = append(ids, o.ID)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cleanup: list pending orders: %w", err)
	}

	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		_, changed, err := domain.Update(ctx, c.deps.Store, c.deps.Clock, id, "", func(o *domain.Order) (bool, error) {
			return domain.Apply(o, domain.Change{Trigger: domain.TriggerCleanup, Actor: domain.ActorSystem, At: c.deps.Clock.Now(), FailedBefore: cutoff})
		})
		switch {
		case errors.Is(err, domain.ErrNotFound):
			continue // deleted since the listing: nothing to cancel
		case err != nil:
			errs = append(errs, fmt.Errorf("cleanup: cancel order %s: %w", id, err))
		case changed:
			cancelled++
			log.Info("order cancelled by cleanup", zap.String(logging.FieldOrderID, id), zap.Time("failedBefore", cutoff))
		}
	}
	return cancelled, errors.Join(errs...)
}
