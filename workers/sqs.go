package workers

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/domain"
)

// SQS system attribute names that Lambda passes in each record's attributes.
const (
	sqsGroupID      = "MessageGroupId"
	sqsDedupID      = "MessageDeduplicationId"
	sqsReceiveCount = "ApproximateReceiveCount"
	sqsSentAt       = "SentTimestamp"
)

// HandleSQS is the worker Lambda's handler: it runs a batch from the SQS event
// source through the same dispatcher and middleware that `orderflow serve`
// polls with, and reports the failed messages as BatchItemFailures
// (ReportBatchItemFailures), so Lambda deletes the rest and returns only
// those to the queue. Failures stay FIFO-aware: the later messages of a
// failed group are reported too.
//
// The batch is bounded by ctx's deadline (the invocation's, less a margin)
// as well as BatchTime, and transient retries share one budget, so a few
// failing messages cannot use up the invocation: messages that cannot be
// applied yet are reported at once without a retry, and messages the batch
// had no time to start are reported without being handled. Lambda's event
// source owns the receipts, so they come back after the queue's visibility
// timeout rather than the growing delay Run applies.
//
// With Config.Events set, a message that cannot be applied yet but has later
// messages of its group in the batch does not hold them: it is sent again
// behind them (dedup id <eventId>#later-<n>) and acknowledged, and they are
// applied, as in Run. A refund or dispute delivered before the success that
// records its payment intent then waits for it instead of taking the whole
// payment to the dead-letter queue. If that send fails the message is
// reported failed and comes back after the visibility timeout.
//
// It never returns an error: that would fail the whole batch, including the
// messages already applied and the other groups.
func (d *Dispatcher) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	msgs := make([]domain.Message, len(ev.Records))
	for i, r := range ev.Records {
		msgs[i] = fromSQS(r)
	}
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, r := range d.processBatch(ctx, d.handler, msgs, d.cfg.Events != nil) {
		if r.err == nil || (r.deferred && d.requeue(ctx, d.cfg.Events, msgs[i])) {
			continue
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msgs[i].ID})
	}
	return resp, nil
}

// fromSQS converts a Lambda SQS record to the message the handlers read, as
// infra/sqs does for a received message. Binary message attributes are
// dropped: orderflow only ever sends strings.
func fromSQS(r events.SQSMessage) domain.Message {
	m := domain.Message{
		ID:      r.MessageId,
		Body:    []byte(r.Body),
		GroupID: r.Attributes[sqsGroupID],
		DedupID: r.Attributes[sqsDedupID],
		Receipt: r.ReceiptHandle,
	}
	if n, err := strconv.Atoi(r.Attributes[sqsReceiveCount]); err == nil {
		m.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(r.Attributes[sqsSentAt], 10, 64); err == nil {
		m.SentAt = time.UnixMilli(ms).UTC()
	}
	if len(r.MessageAttributes) > 0 {
		m.Attributes = make(map[string]string, len(r.MessageAttributes))
		for k, v := range r.MessageAttributes {
			if v.StringValue != nil {
				m.Attributes[k] = *v.StringValue
			}
		}
	}
	return m
}
