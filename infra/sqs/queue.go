// Package sqs is the Amazon SQS FIFO adapter of domain.Queue and
// domain.Inspector: the events queue and its dead-letter queue on AWS, or on
// kumo for tests and local trials.
package sqs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/domain"
)

// SQS limits the adapter has to respect.
const (
	maxBatch = 10               // ReceiveMessage and the *Batch calls
	maxWait  = 20 * time.Second // longest long poll
	maxHide  = 12 * time.Hour   // longest visibility timeout
)

// MaxMessageSize is the queues' MaximumMessageSize, 256 KiB: SQS's long-time
// default, set explicitly in template.yaml and by CreateFIFOQueues so every
// deployment has the same limit whatever the account's default. SQS counts
// the body and every message attribute against it.
const MaxMessageSize = 262144

// Size limits SQS accepts for MaximumMessageSize (SQS API Reference,
// SetQueueAttributes: 1,024 bytes to 1 MiB).
const (
	minMessageSizeLimit = 1024
	maxMessageSizeLimit = 1 << 20
)

// stringType is the DataType of every attribute the adapter sends.
const stringType = "String"

// peekVisibility hides the messages a Peek receives for long enough to page
// through the queue; they are released at once afterwards, so it only matters
// if the process dies mid-peek.
const peekVisibility = 30 * time.Second

// maxPeekRounds bounds how often a Peek releases cut groups to read on.
const maxPeekRounds = 50

// Reserved message attributes that mirror the FIFO group and deduplication
// id. SQS reports both as system attributes, but emulators (kumo) drop them,
// and kumo also drops them when it moves a message to the dead-letter queue,
// which would leave `dlq redrive` without the group to send it back to. They
// are stripped from Message.Attributes on receive.
const (
	attrMirrorGroup = "orderflow.groupId"
	attrMirrorDedup = "orderflow.dedupId"
)

// Config configures a Queue.
type Config struct {
	// QueueURL is the queue's URL, as CreateQueue or GetQueueUrl return it.
	QueueURL string
	// WaitTime caps the long poll of a Receive; 0 means the SQS maximum of 20s.
	WaitTime time.Duration
	// VisibilityTimeout hides received messages for this long; 0 keeps the
	// queue's own setting, which is what production relies on.
	VisibilityTimeout time.Duration
	// MaxMessageSize is the queue's MaximumMessageSize in bytes, which Send
	// checks before sending; 0 means MaxMessageSize (256 KiB).
	MaxMessageSize int
}

// Validate reports every problem with the config at once.
func (c Config) Validate() error {
	var problems []string
	if strings.TrimSpace(c.QueueURL) == "" {
		problems = append(problems, "QueueURL is required")
	}
	if c.WaitTime < 0 || c.WaitTime > maxWait {
		problems = append(problems, fmt.Sprintf("WaitTime %s: want between 0 and 20s", c.WaitTime))
	}
	if c.VisibilityTimeout < 0 || c.VisibilityTimeout > maxHide {
		problems = append(problems, fmt.Sprintf("VisibilityTimeout %s: want between 0 and 12h", c.VisibilityTimeout))
	}
	if c.MaxMessageSize != 0 && (c.MaxMessageSize < minMessageSizeLimit || c.MaxMessageSize > maxMessageSizeLimit) {
		problems = append(problems, fmt.Sprintf("MaxMessageSize %d: want 0 or between %d and %d bytes", c.MaxMessageSize, minMessageSizeLimit, maxMessageSizeLimit))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: sqs queue config: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Queue is one SQS FIFO queue.
type Queue struct {
	client *awssqs.Client
	cfg    Config
}

var (
	_ domain.Queue     = (*Queue)(nil)
	_ domain.Inspector = (*Queue)(nil)
)

// NewQueue returns the queue at cfg.QueueURL; it makes no request.
func NewQueue(client *awssqs.Client, cfg Config) (*Queue, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: sqs queue: nil client", domain.ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.WaitTime == 0 {
		cfg.WaitTime = maxWait
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = MaxMessageSize
	}
	return &Queue{client: client, cfg: cfg}, nil
}

// URL is the queue's URL.
func (q *Queue) URL() string { return q.cfg.QueueURL }

// Send enqueues m. SQS itself drops a duplicate dedup id within its
// five-minute window and answers with the first message's id.
//
// What real SQS would refuse is refused here first, as a permanent
// domain.ErrInvalid, because emulators (kumo) accept it: a group or dedup id
// outside SQS's rule (domain.CheckQueueID), and a message whose body and
// attributes together exceed the queue's MaxMessageSize.
func (q *Queue) Send(ctx context.Context, m domain.OutgoingMessage) (string, error) {
	if m.GroupID == "" || m.DedupID == "" {
		return "", domain.Permanentf("%w: sqs send: a FIFO message needs a group id and a dedup id", domain.ErrInvalid)
	}
	if err := errors.Join(domain.CheckQueueID("group id", m.GroupID), domain.CheckQueueID("dedup id", m.DedupID)); err != nil {
		return "", domain.Permanent(fmt.Errorf("sqs send: %w", err))
	}
	attrs := outgoingAttributes(m)
	if size := messageSize(m.Body, attrs); size > q.cfg.MaxMessageSize {
		return "", domain.Permanentf("%w: %w: sqs send: message is %d bytes (body %d, attributes %d), over the queue's %d-byte limit on body and attributes together",
			domain.ErrInvalid, domain.ErrMessageTooLarge, size, len(m.Body), size-len(m.Body), q.cfg.MaxMessageSize)
	}
	out, err := q.client.SendMessage(ctx, &awssqs.SendMessageInput{
		QueueUrl:               aws.String(q.cfg.QueueURL),
		MessageBody:            aws.String(string(m.Body)),
		MessageGroupId:         aws.String(m.GroupID),
		MessageDeduplicationId: aws.String(m.DedupID),
		MessageAttributes:      attrs,
	})
	if err != nil {
		return "", wrap("send", err)
	}
	return aws.ToString(out.MessageId), nil
}

// outgoingAttributes are the message attributes Send sends for m: its own
// non-empty ones (SQS rejects an empty value) and the group and dedup mirrors.
func outgoingAttributes(m domain.OutgoingMessage) map[string]types.MessageAttributeValue {
	attrs := make(map[string]types.MessageAttributeValue, len(m.Attributes)+2)
	for k, v := range m.Attributes {
		if v == "" || k == attrMirrorGroup || k == attrMirrorDedup {
			continue
		}
		attrs[k] = stringAttr(v)
	}
	attrs[attrMirrorGroup] = stringAttr(m.GroupID)
	attrs[attrMirrorDedup] = stringAttr(m.DedupID)
	return attrs
}

// MessageSize is the size SQS counts for m as Send sends it: the body plus,
// for every attribute including the group and dedup mirrors, its name, its
// data type and its value, in UTF-8 bytes ("All parts of the message
// attribute, including Name, Type, and Value, are part of the message size
// restriction", SQS API Reference, MessageAttributeValue).
func MessageSize(m domain.OutgoingMessage) int {
	return messageSize(m.Body, outgoingAttributes(m))
}

func messageSize(body []byte, attrs map[string]types.MessageAttributeValue) int {
	n := len(body)
	for name, v := range attrs {
		n += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// Receive returns up to n (at most 10) messages, long polling up to wait
// (rounded to whole seconds, capped at Config.WaitTime) for the first.
func (q *Queue) Receive(ctx context.Context, n int, wait time.Duration) ([]domain.Message, error) {
	wait = min(max(wait, 0), q.cfg.WaitTime)
	return q.receive(ctx, "receive", n, wait, q.cfg.VisibilityTimeout)
}

func (q *Queue) receive(ctx context.Context, op string, n int, wait, visibility time.Duration) ([]domain.Message, error) {
	in := &awssqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.cfg.QueueURL),
		MaxNumberOfMessages: int32(min(max(n, 1), maxBatch)),
		WaitTimeSeconds:     int32(wait.Round(time.Second) / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameAll,
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameMessageGroupId,
			types.MessageSystemAttributeNameMessageDeduplicationId,
		},
		MessageAttributeNames: []string{"All"},
		// The SDK retries a failed call with the same input, so a receive
		// whose answer was lost on the network returns the same messages
		// instead of leaving them hidden for a whole visibility timeout.
		ReceiveRequestAttemptId: aws.String(attemptID()),
	}
	if visibility > 0 {
		in.VisibilityTimeout = seconds(visibility)
	}
	out, err := q.client.ReceiveMessage(ctx, in)
	if err != nil {
		return nil, wrap(op, err)
	}
	msgs := make([]domain.Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, toMessage(m))
	}
	return msgs, nil
}

// Delete acknowledges a received message.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	_, err := q.client.DeleteMessage(ctx, &awssqs.DeleteMessageInput{
		QueueUrl:      aws.String(q.cfg.QueueURL),
		ReceiptHandle: aws.String(receipt),
	})
	return wrap("delete", err)
}

// ChangeVisibility makes an in-flight message visible again after timeout.
func (q *Queue) ChangeVisibility(ctx context.Context, receipt string, timeout time.Duration) error {
	if timeout < 0 || timeout > maxHide {
		return domain.Permanentf("%w: sqs change visibility: timeout %s: want between 0 and 12h", domain.ErrInvalid, timeout)
	}
	_, err := q.client.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.cfg.QueueURL),
		ReceiptHandle:     aws.String(receipt),
		VisibilityTimeout: seconds(timeout),
	})
	return wrap("change visibility", err)
}

// Stats reports the approximate depth SQS keeps for the queue.
func (q *Queue) Stats(ctx context.Context) (domain.QueueStats, error) {
	out, err := q.client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.cfg.QueueURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return domain.QueueStats{}, wrap("stats", err)
	}
	visible, err1 := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, err2 := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	if err := errors.Join(err1, err2); err != nil {
		return domain.QueueStats{}, fmt.Errorf("sqs stats: unreadable queue attributes: %w", err)
	}
	return domain.QueueStats{Visible: visible, InFlight: inFlight}, nil
}

// Peek returns up to limit messages, oldest first, and leaves them visible.
//
// SQS cannot browse a queue, so Peek receives batches, hidden for 30s, until
// it has limit messages or the queue answers empty, then makes every one of
// them visible again. Receiving goes on across FIFO groups. A group whose
// messages did not fit in one batch stays locked behind the part already
// received, so when a full batch ended on a group Peek releases that group
// alone and receives again to read on past the cut.
//
// An SQS limitation: every peek adds at least one to the receive count of the
// messages it saw (two or more for a group it had to release and re-read), so
// peek a queue with a redrive policy sparingly, since that pushes messages
// towards its dead-letter queue. Real SQS may also return a short batch
// mid-group; such a group shows only its first messages.
func (q *Queue) Peek(ctx context.Context, limit int) ([]domain.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	var (
		out    []domain.Message
		hidden []domain.Message // everything received and not yet released
		ids    = map[string]bool{}
		err    error
	)
	for round := 0; round < maxPeekRounds && len(out) < limit && err == nil; round++ {
		progress := false
		cut := map[string]bool{}
		for len(out) < limit {
			var batch []domain.Message
			// A one-second poll, not a short poll: SQS short polls sample a
			// subset of its servers and may answer empty for a non-empty queue.
			batch, err = q.receive(ctx, "peek", maxBatch, time.Second, peekVisibility)
			if err != nil || len(batch) == 0 {
				break
			}
			hidden = append(hidden, batch...)
			for _, m := range batch {
				if !ids[m.ID] && len(out) < limit {
					ids[m.ID] = true
					out = append(out, m)
					progress = true
				}
			}
			if len(batch) == maxBatch {
				cut[batch[len(batch)-1].GroupID] = true
			}
		}
		if !progress || len(cut) == 0 || len(out) >= limit || err != nil {
			break
		}
		var release, keep []domain.Message
		for _, m := range hidden {
			if cut[m.GroupID] {
				release = append(release, m)
			} else {
				keep = append(keep, m)
			}
		}
		hidden = keep
		if err = q.release(ctx, release); err != nil {
			break
		}
	}
	// Release even when the caller's context is done, or the messages stay
	// hidden for the whole peek visibility.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if rerr := q.release(rctx, hidden); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b domain.Message) int { return a.SentAt.Compare(b.SentAt) })
	for i := range out {
		out[i].Receipt = "" // released: the handle must not be used to delete
	}
	return out, nil
}

// release makes msgs visible at once, in batches of ten.
func (q *Queue) release(ctx context.Context, msgs []domain.Message) error {
	var errs []error
	for chunk := range slices.Chunk(msgs, maxBatch) {
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				ReceiptHandle:     aws.String(m.Receipt),
				VisibilityTimeout: 0,
			}
		}
		out, err := q.client.ChangeMessageVisibilityBatch(ctx, &awssqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(q.cfg.QueueURL),
			Entries:  entries,
		})
		if err != nil {
			errs = append(errs, wrap("peek release", err))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("sqs peek release: message stays hidden for up to %s: %s: %s",
				peekVisibility, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}

func toMessage(m types.Message) domain.Message {
	sys := m.Attributes
	msg := domain.Message{
		ID:         aws.ToString(m.MessageId),
		Body:       []byte(aws.ToString(m.Body)),
		GroupID:    sys[string(types.MessageSystemAttributeNameMessageGroupId)],
		DedupID:    sys[string(types.MessageSystemAttributeNameMessageDeduplicationId)],
		Attributes: make(map[string]string, len(m.MessageAttributes)),
		Receipt:    aws.ToString(m.ReceiptHandle),
	}
	for k, v := range m.MessageAttributes {
		switch s := aws.ToString(v.StringValue); k {
		case attrMirrorGroup:
			if msg.GroupID == "" {
				msg.GroupID = s
			}
		case attrMirrorDedup:
			if msg.DedupID == "" {
				msg.DedupID = s
			}
		default:
			if v.StringValue != nil {
				msg.Attributes[k] = s
			}
		}
	}
	if n, err := strconv.Atoi(sys[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil {
		msg.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(sys[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		msg.SentAt = time.UnixMilli(ms).UTC()
	}
	return msg
}

func stringAttr(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String(stringType), StringValue: aws.String(v)}
}

// seconds rounds d up to whole seconds, as SQS counts them.
func seconds(d time.Duration) int32 {
	return int32(min(math.Ceil(d.Seconds()), maxHide.Seconds()))
}

func attemptID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// wrap names the operation and marks the errors no retry can fix, so a worker
// does not back off on them. The SDK's errors carry the request id, never
// credentials.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); {
		case code == "ReceiptHandleIsInvalid", code == "MessageNotInflight",
			code == "InvalidParameterValue" && strings.Contains(strings.ToLower(ae.ErrorMessage()), "receipt handle"):
			return fmt.Errorf("sqs %s: %w: %w", op, domain.ErrNotFound, err)
		case code == "AWS.SimpleQueueService.NonExistentQueue", code == "QueueDoesNotExist":
			return domain.Permanent(fmt.Errorf("sqs %s: %w: %w", op, domain.ErrNotFound, err))
		case code == "InvalidParameterValue", code == "MissingParameter", code == "InvalidAttributeValue",
			code == "InvalidMessageContents", code == "UnsupportedOperation":
			return domain.Permanent(fmt.Errorf("sqs %s: %w: %w", op, domain.ErrInvalid, err))
		}
	}
	return fmt.Errorf("sqs %s: %w", op, err)
}
