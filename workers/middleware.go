package workers

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
)

// Middleware wraps a Handler with one behaviour (recover, retry,
// dead-lettering, failure recording), as watermill's router does: the
// dispatcher keeps only the FIFO batch rules and each behaviour is a small
// function that can be tested, reordered or left out on its own.
type Middleware func(Handler) Handler

// Chain wraps h in mws; the first middleware is the outermost, so
// Chain(h, a, b) handles a message as a(b(h)).
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// kindOf classifies a handler error for the dispatcher and its middleware:
// the Stripe worker marks a missing order domain.NotYet itself.
func kindOf(err error) domain.Kind { return domain.KindOf(err) }

// Recoverer turns a handler panic into an error so one bad message cannot
// take down the worker. The error is transient: the receive limit, not one
// panic, decides that a message is poison.
func Recoverer() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, msg domain.Message) (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("handler panic: %v", r)
				}
			}()
			return next.Handle(ctx, msg)
		})
	}
}

// recordTimeout bounds a failure-recording write; it runs even when the
// batch's context has ended, because the reason is most useful exactly then.
const recordTimeout = 5 * time.Second

// RecordFailures keeps the reason of every message that still fails after
// the inner middleware, so that a message the queue later moves to the DLQ
// carries it as lastError. Recording is best effort: the message's fate does
// not depend on it.
func RecordFailures(rec domain.FailureRecorder, log *zap.Logger) Middleware {
	if log == nil {
		log = zap.NewNop()
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, msg domain.Message) error {
			err := next.Handle(ctx, msg)
			if err == nil || msg.Receipt == "" {
				return err
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
			defer cancel()
			if rerr := rec.RecordFailure(rctx, msg.Receipt, shortReason(err)); rerr != nil {
				log.Debug("could not record the failure reason", append(msgFields(msg, orderOf(ctx)), zap.Error(rerr))...)
			}
			return err
		})
	}
}

// orderOf is the order id a handler noted for the message in ctx, if any.
func orderOf(ctx context.Context) string {
	if s, ok := ctx.Value(stateKey{}).(*msgState); ok {
		return s.orderID
	}
	return ""
}
