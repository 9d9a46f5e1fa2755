package domain

import "context"

// Enqueue is the one send path of orderflow (SPEC §4): the ingress, replay,
// reconcile, redrive and the dead-letter send all call it, so group and dedup
// ids obey SQS's rule on every backend however the message was built.
func Enqueue(ctx context.Context, q Queue, m OutgoingMessage) (string, error) {
	return q.Send(ctx, m.NormalizeIDs())
}
