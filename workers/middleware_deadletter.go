package workers

import (
	"context"
	"maps"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/metrics"
)

// deadLetterTimeout bounds the dead-letter send. It runs even when the
// batch's context has ended: a message that failed for good must not be lost
// because the worker is stopping.
const deadLetterTimeout = 10 * time.Second

// maxReasonLen keeps the lastError attribute short.
const maxReasonLen = 256

// DeadLetter sends a message whose error is permanent (domain.KindPermanent:
// malformed, unknown eventType, rejected by a rule) straight to dlq with the
// attribute lastError, and then acknowledges the original: waiting for the
// receive limit would only delay the person who has to look at it, and block
// its group meanwhile. If the send fails the error is returned, so the
// message stays in the queue and reaches the DLQ through the receive limit.
// Other kinds pass through untouched.
func DeadLetter(dlq domain.Queue, rec *metrics.Recorder, log *zap.Logger) Middleware {
	if log == nil {
		log = zap.NewNop()
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, msg domain.Message) error {
			err := next.Handle(ctx, msg)
			if err == nil || kindOf(err) != domain.KindPermanent {
				return err
			}
			fields := append(msgFields(msg, orderOf(ctx)), zap.Error(err))
			if dlq == nil {
				log.Error("permanent failure; no dead-letter queue configured, left for the receive limit", fields...)
				return err
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadLetterTimeout)
			defer cancel()
			if _, serr := domain.Enqueue(sctx, dlq, deadLetterMessage(msg, err)); serr != nil {
				log.Error("permanent failure; dead-letter send failed, left for the receive limit", append(fields, zap.NamedError("sendError", serr))...)
				return err
			}
			rec.Count(metrics.EventsDeadLettered, 1, map[string]string{"eventType": eventType(msg)})
			log.Error("permanent failure; moved to the dead-letter queue", fields...)
			return nil
		})
	}
}

// deadLetterMessage is msg as the DLQ keeps it: same body, group, dedup id
// and attributes plus lastError. Its ids go through NormalizeIDs, the one
// enqueue rule every producer follows, and fall back to the message id so
// that a message without them (a standard-queue producer) is still accepted.
func deadLetterMessage(msg domain.Message, cause error) domain.OutgoingMessage {
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
	return out.NormalizeIDs()
}

// shortReason is the lastError attribute: one line, bounded.
func shortReason(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > maxReasonLen {
		s = strings.ToValidUTF8(s[:maxReasonLen], "") + "…"
	}
	return s
}
