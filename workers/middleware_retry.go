package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
)

// DefaultConflictRetries is how many times Retry re-runs a handler at once
// after a lost optimistic-lock race.
const DefaultConflictRetries = 3

// RetryConfig configures the Retry middleware.
type RetryConfig struct {
	// InitialInterval and MaxInterval shape the exponential backoff (with
	// jitter) between attempts after a transient error.
	InitialInterval time.Duration
	MaxInterval     time.Duration
	// ConflictRetries is how many immediate re-runs a conflict gets; 0 means
	// DefaultConflictRetries, a negative value none.
	ConflictRetries int
	Logger          *zap.Logger
}

// Retry re-runs the handler in process according to the error's kind:
//
//   - conflict: at once, up to ConflictRetries times. domain.Update already
//     re-read and re-applied within its own loop; a conflict that survives it
//     means a busy order, and a fresh attempt is cheap while a sleep would
//     hold the group.
//   - transient: with exponential backoff and jitter, but only while the next
//     attempt still starts before the retry deadline the dispatcher put in
//     ctx (shared by the whole batch) and before ctx's own deadline (a Lambda
//     invocation's). When the next wait does not fit, Retry gives up at once
//     instead of sleeping into the deadline, and the queue redelivers.
//     Without either deadline it allows DefaultRetryBudget.
//   - not-yet and permanent: never; only time or a person can help, and the
//     dispatcher or DeadLetter deals with them.
func Retry(cfg RetryConfig) Middleware {
	if cfg.InitialInterval <= 0 {
		cfg.InitialInterval = 100 * time.Millisecond
	}
	if cfg.MaxInterval < cfg.InitialInterval {
		cfg.MaxInterval = cfg.InitialInterval
	}
	if cfg.ConflictRetries == 0 {
		cfg.ConflictRetries = DefaultConflictRetries
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, msg domain.Message) error {
			var b *backoff.ExponentialBackOff // made on the first transient error only
			first := time.Now()
			conflicts := 0
			for attempt := 1; ; attempt++ {
				err := next.Handle(ctx, msg)
				if err == nil {
					return nil
				}
				if ctx.Err() != nil {
					return err
				}
				switch kindOf(err) {
				case domain.KindPermanent, domain.KindNotYet:
					return err
				case domain.KindConflict:
					if conflicts++; conflicts > cfg.ConflictRetries {
						return fmt.Errorf("%w (gave up after %d immediate retries)", err, cfg.ConflictRetries)
					}
					continue
				}
				if b == nil {
					b = backoff.NewExponentialBackOff(
						backoff.WithInitialInterval(cfg.InitialInterval),
						backoff.WithMaxInterval(cfg.MaxInterval),
						backoff.WithMaxElapsedTime(0), // the deadline below bounds it
					)
				}
				wait := b.NextBackOff()
				deadline, ok := retryDeadline(ctx)
				if !ok {
					// Outside a dispatcher batch and without a ctx deadline:
					// one default budget from the first attempt, never for ever.
					deadline = first.Add(DefaultRetryBudget)
				}
				if time.Now().Add(wait).After(deadline) {
					return fmt.Errorf("%w (retry budget spent after %d attempts)", err, attempt)
				}
				cfg.Logger.Info("transient failure; retrying",
					append(msgFields(msg, orderOf(ctx)), zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))...)
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return fmt.Errorf("%w (retries stopped: %w)", err, ctx.Err())
				case <-t.C:
				}
			}
		})
	}
}
