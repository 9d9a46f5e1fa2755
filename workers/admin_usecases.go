package workers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/ingress"
)

// Listing limits of ListOrders.
const (
	// DefaultPageSize is the page size when the caller gives none.
	DefaultPageSize = 50
	// MaxPageSize bounds one page, so one request cannot hold a large
	// table's worth of orders in memory.
	MaxPageSize = 500
)

// OrderPage is one page of ListOrders: orders by id, and the cursor of the
// next page ("" on the last one).
type OrderPage struct {
	Orders []domain.Order `json:"orders"`
	Next   string         `json:"nextCursor,omitempty"`
}

// ListOrders returns the page of orders matching f that follows cursor, in id
// order, answered by the store from the index of f's most selective field as
// `orders list` is. The cursor is the opaque form of the last id returned, so
// a page boundary stays put while orders are written: an order created after
// the first page appears on a later one if its id sorts after the cursor. The
// index is walked to its end for every page (DynamoDB's GSIs have no sort key
// to start from), keeping only limit+1 orders in memory. Errors:
// domain.ErrInvalid for a bad limit or cursor.
func ListOrders(ctx context.Context, store domain.Store, f domain.Filter, limit int, cursor string) (OrderPage, error) {
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return OrderPage{}, fmt.Errorf("%w: limit %d: want 1 to %d", domain.ErrInvalid, limit, MaxPageSize)
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return OrderPage{}, err
	}
	// keep holds the smallest limit+1 ids after the cursor, sorted.
	keep := make([]domain.Order, 0, limit+1)
	err = store.List(ctx, f, func(o domain.Order) error {
		if o.ID <= after {
			return nil
		}
		if len(keep) == limit+1 && o.ID >= keep[limit].ID {
			return nil
		}
		i, _ := slices.BinarySearchFunc(keep, o.ID, func(a domain.Order, id string) int { return strings.Compare(a.ID, id) })
		keep = slices.Insert(keep, i, o)
		if len(keep) > limit+1 {
			keep = keep[:limit+1]
		}
		return nil
	})
	if err != nil {
		return OrderPage{}, err
	}
	page := OrderPage{Orders: keep}
	if len(keep) > limit {
		page.Orders = keep[:limit]
		page.Next = encodeCursor(keep[limit-1].ID)
	}
	return page, nil
}

func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte("o1:" + id)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	id, ok := strings.CutPrefix(string(b), "o1:")
	if err != nil || !ok || id == "" {
		return "", fmt.Errorf("%w: cursor %q is not one this API returned", domain.ErrInvalid, c)
	}
	return id, nil
}

// DLQPeekLimit bounds one DLQ listing; a DLQ deeper than this is an incident
// better handled with redrive --type than by reading every line.
const DLQPeekLimit = 10000

// DLQEntry is one dead-lettered message as operators see it (SPEC §6,
// `orderflow dlq list`, GET /admin/v1/dlq).
type DLQEntry struct {
	MessageID    string `json:"messageId"`
	EventID      string `json:"eventId"`
	EventType    string `json:"eventType"`
	Group        string `json:"group"`
	ReceiveCount int    `json:"receiveCount"`
	ReplayCount  int    `json:"replayCount"`
	AgeSeconds   int64  `json:"ageSeconds"`
	LastError    string `json:"lastError,omitempty"`
}

// ListDLQ returns up to max (0: DLQPeekLimit) dead-lettered messages, oldest
// first, leaving them in the queue and visible.
func ListDLQ(ctx context.Context, dlq domain.Inspector, clock domain.Clock, max int) ([]DLQEntry, error) {
	if max <= 0 || max > DLQPeekLimit {
		max = DLQPeekLimit
	}
	msgs, err := dlq.Peek(ctx, max)
	if err != nil {
		return nil, fmt.Errorf("list the DLQ: %w", err)
	}
	if clock == nil {
		clock = domain.SystemClock{}
	}
	out := make([]DLQEntry, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, NewDLQEntry(m, clock))
	}
	return out, nil
}

// NewDLQEntry describes one DLQ message, its age taken from clock.
func NewDLQEntry(m domain.Message, clock domain.Clock) DLQEntry {
	replays, _ := strconv.Atoi(m.Attributes[domain.AttrReplayCount])
	age := int64(0)
	if !m.SentAt.IsZero() {
		age = int64(clock.Now().Sub(m.SentAt).Seconds())
	}
	return DLQEntry{
		MessageID: m.ID, EventID: m.Attributes[domain.AttrEventID], EventType: m.Attributes[domain.AttrEventType],
		Group: m.GroupID, ReceiveCount: m.ReceiveCount, ReplayCount: replays, AgeSeconds: age,
		LastError: m.Attributes[domain.AttrLastError],
	}
}

// EventSource fetches one Stripe event's raw JSON; *stripeapi.Client is one.
// An unknown event is an error wrapping domain.ErrNotFound.
type EventSource interface {
	GetEvent(ctx context.Context, id string) ([]byte, error)
}

// EventReplayer enqueues one Stripe event again, fetched from the Stripe API
// (SPEC §6 `orderflow events replay`, POST /admin/v1/events/{evt}/replay).
type EventReplayer struct {
	Events domain.Queue
	Stripe EventSource
	Clock  domain.Clock
	Logger *zap.Logger
}

// ReplayResult is what one replay did.
type ReplayResult struct {
	EventID   string `json:"eventId"`
	EventType string `json:"eventType"`
	Enqueued  bool   `json:"enqueued"`
	Ignored   bool   `json:"ignored,omitempty"`
}

// CheckEventID reports, as domain.ErrInvalid, an id that is not a Stripe
// event id (evt_…) or could not be put in a URL path as it is.
func CheckEventID(id string) error {
	if !strings.HasPrefix(id, "evt_") || len(id) <= len("evt_") || len(id) > 255 || strings.ContainsAny(id, "/?#% \t\r\n") {
		return fmt.Errorf("%w: %q is not a Stripe event id (evt_…)", domain.ErrInvalid, id)
	}
	return nil
}

// Replay fetches event id and enqueues it as the ingress would: same group,
// attributes eventType, eventId and source=replay. Its dedup id is
// "<eventId>#manual-<unix seconds>", not the bare event id, so the queue's
// deduplication window of the original delivery cannot swallow an operator's
// replay; exactly-once still holds through the order's appliedEvents. Types
// orderflow does not handle are reported as ignored and not enqueued.
// Errors: domain.ErrInvalid (not an event id), domain.ErrNotFound (Stripe
// does not know it).
func (r EventReplayer) Replay(ctx context.Context, id string) (ReplayResult, error) {
	if err := CheckEventID(id); err != nil {
		return ReplayResult{}, err
	}
	log, clock := r.Logger, r.Clock
	if log == nil {
		log = zap.NewNop()
	}
	if clock == nil {
		clock = domain.SystemClock{}
	}
	raw, err := r.Stripe.GetEvent(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return ReplayResult{}, kindError{msg: fmt.Sprintf("stripe event %s not found (Stripe keeps events 30 days)", id), kind: domain.ErrNotFound}
	}
	if err != nil {
		return ReplayResult{}, err
	}
	ev, err := domain.ParseEvent(raw)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("stripe returned event %s: %w", id, err)
	}
	if !domain.IsAccepted(ev.Type) {
		log.Info("event not enqueued: type not handled", zap.String("eventId", ev.ID), zap.String("eventType", ev.Type))
		return ReplayResult{EventID: ev.ID, EventType: ev.Type, Ignored: true}, nil
	}
	msg := ingress.Route(ev, raw, domain.SourceReplay)
	msg.DedupID = fmt.Sprintf("%s#manual-%d", ev.ID, clock.Now().Unix())
	if _, err := domain.Enqueue(ctx, r.Events, msg); err != nil {
		return ReplayResult{}, fmt.Errorf("enqueue event %s: %w", ev.ID, err)
	}
	log.Info("event enqueued for replay", zap.String("eventId", ev.ID), zap.String("eventType", ev.Type),
		zap.String("group", msg.GroupID), zap.String("dedupId", msg.DedupID))
	return ReplayResult{EventID: ev.ID, EventType: ev.Type, Enqueued: true}, nil
}

// kindError is an error with its own message that still matches a sentinel
// with errors.Is, so the sentinel's text is not appended to the message.
type kindError struct {
	msg  string
	kind error
}

func (e kindError) Error() string { return e.msg }
func (e kindError) Unwrap() error { return e.kind }
