package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// MaxQueueIDLen is the longest MessageGroupId or MessageDeduplicationId SQS
// accepts (Amazon SQS Developer Guide, "MessageGroupId": 128 characters).
const MaxQueueIDLen = 128

// ValidQueueID reports whether s obeys SQS's rule for group and dedup ids:
// 1–128 characters, each from '!' to '~' (ASCII 33–126).
func ValidQueueID(s string) bool {
	if len(s) == 0 || len(s) > MaxQueueIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// CheckQueueID returns an ErrInvalid error naming field when s breaks SQS's
// id rule. Queues call it so that SQLite refuses what SQS would refuse.
func CheckQueueID(field, s string) error {
	if ValidQueueID(s) {
		return nil
	}
	return fmt.Errorf("%w: %s must be 1-%d characters from '!' to '~' (SQS rule), got %d bytes", ErrInvalid, field, MaxQueueIDLen, len(s))
}

// QueueID returns s when it is a valid SQS group or dedup id, else a stable
// digest of it ("sha256-" and 64 hex digits), so ids built from external
// data (metadata.orderId may hold spaces, "/" or "ë") are accepted by every
// backend and still map one input to one id (SPEC §4). "" stays "".
func QueueID(s string) string {
	if s == "" || ValidQueueID(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + hex.EncodeToString(sum[:])
}

// NormalizeIDs makes m's group and dedup ids valid with QueueID. Every
// producer (ingress, replay, reconcile, redrive, dead-letter send) sends
// through it.
func (m OutgoingMessage) NormalizeIDs() OutgoingMessage {
	m.GroupID = QueueID(m.GroupID)
	m.DedupID = QueueID(m.DedupID)
	return m
}

// Message size limits (SQS counts a message's body and its attributes
// together: name, data type and value of each; Amazon SQS Developer Guide,
// "Amazon SQS message quotas").
const (
	// MaxMessageBytes is the queues' MaximumMessageSize.
	MaxMessageBytes = 262144
	// MaxAttributeBytes is the most orderflow's own attributes take on a
	// message on its way through every hop: eventType, eventId, source,
	// replayCount, lastError and the two id mirrors the SQS adapter adds
	// (infra/sqs pins the figure in a test).
	MaxAttributeBytes = 801
	// MaxEventBody is the largest webhook body that still fits with every
	// attribute a redrive or a dead-letter send adds, so an event that was
	// accepted can always be dead-lettered and redriven.
	MaxEventBody = MaxMessageBytes - MaxAttributeBytes
)
