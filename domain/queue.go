package domain

import (
	"context"
	"time"
)

// Message attribute names (SPEC §4, §6).
const (
	AttrEventType   = "eventType"
	AttrEventID     = "eventId"
	AttrSource      = "source"
	AttrReplayCount = "replayCount"
	AttrLastError   = "lastError"
)

// Message sources.
const (
	SourceWebhook  = "webhook"
	SourceSchedule = "schedule"
	SourceReplay   = "replay"
)

// CleanupGroup is the FIFO group of scheduled cleanup messages.
const CleanupGroup = "cleanup"

// OutgoingMessage is what a producer sends to a FIFO queue.
type OutgoingMessage struct {
	Body       []byte
	GroupID    string
	DedupID    string
	Attributes map[string]string
}

// Message is a received FIFO message. Receipt is the handle for Delete and
// ChangeVisibility; it changes on every receive, as in SQS.
type Message struct {
	ID           string
	Body         []byte
	GroupID      string
	DedupID      string
	Attributes   map[string]string
	ReceiveCount int
	SentAt       time.Time
	Receipt      string
}

// Queue is a FIFO queue with SQS semantics: per-group order (a group is blocked
// while one of its messages is in flight), a deduplication window, visibility
// timeout, receive counts and, when configured, a dead-letter queue.
type Queue interface {
	// Send enqueues a message; a duplicate dedup id within the window is
	// accepted and dropped. It returns the message id.
	Send(ctx context.Context, m OutgoingMessage) (string, error)
	// Receive returns up to max messages, waiting up to wait for the first.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// Delete acknowledges a received message.
	Delete(ctx context.Context, receipt string) error
	// ChangeVisibility makes an in-flight message visible again after timeout
	// (0 returns it at once).
	ChangeVisibility(ctx context.Context, receipt string, timeout time.Duration) error
}

// QueueStats is the approximate depth of a queue.
type QueueStats struct {
	Visible  int `json:"visible"`
	InFlight int `json:"inFlight"`
}

// Inspector is implemented by queues that can report their depth and list
// their messages without consuming them (dlq list, redrive summaries).
type Inspector interface {
	Stats(ctx context.Context) (QueueStats, error)
	// Peek returns up to max messages, oldest first, leaving them in the queue
	// and visible. Implementations must not lose or hide messages.
	Peek(ctx context.Context, max int) ([]Message, error)
}

// BatchDeleter is implemented by queues that acknowledge many received
// messages at once (the SQLite queue: one transaction, so one fsync, for a
// whole processed batch). The dispatcher uses it when the queue has it, and
// Delete for each message otherwise.
type BatchDeleter interface {
	// DeleteBatch acknowledges the messages with receipts and returns one
	// error per receipt (nil: deleted), like SQS's DeleteMessageBatch: a
	// stale receipt fails alone.
	DeleteBatch(ctx context.Context, receipts []string) []error
}

// FailureRecorder is implemented by queues that can keep why a received
// message failed (the SQLite queue); the reason becomes the lastError
// attribute if the message is later moved to the dead-letter queue. SQS
// cannot change a message, so there lastError is only known for the
// failures a worker dead-letters itself.
type FailureRecorder interface {
	// RecordFailure keeps reason on the in-flight message with receipt.
	RecordFailure(ctx context.Context, receipt, reason string) error
}
