package workers

import (
	"context"
	"encoding/json"
	"time"

	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
)

// Handler processes one message; a nil error acknowledges it.
type Handler interface {
	Handle(ctx context.Context, msg domain.Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msg domain.Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, msg domain.Message) error { return f(ctx, msg) }

// DefaultCleanupAfter is CLEANUP_FAILED_PAYMENT_MINUTES' default (SPEC §9).
const DefaultCleanupAfter = 60 * time.Minute

// Deps are what the typed handlers share.
type Deps struct {
	Store   domain.Store
	Clock   domain.Clock
	Logger  *zap.Logger
	Metrics *metrics.Recorder
	// CleanupAfter is CLEANUP_FAILED_PAYMENT_MINUTES: how old a payment
	// failure must be before cleanup cancels the order; 0 means the default.
	CleanupAfter time.Duration
}

// withDefaults fills the optional dependencies so handlers never nil-check.
func (d Deps) withDefaults() Deps {
	if d.Clock == nil {
		d.Clock = domain.SystemClock{}
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.CleanupAfter == 0 {
		d.CleanupAfter = DefaultCleanupAfter
	}
	return d
}

// StandardHandlers maps every eventType orderflow consumes to its handler:
// each type of domain.Catalogue to the Stripe worker, and cleanup.run.
func StandardHandlers(d Deps) map[string]Handler {
	s := NewStripe(d)
	m := map[string]Handler{domain.EventCleanupRun: NewCleanup(d)}
	for _, t := range domain.Catalogue {
		m[t.Type] = s
	}
	return m
}

// msgState travels in the context of one message so that the dispatcher's own
// log lines carry the orderId a handler discovered.
type msgState struct{ orderID string }

type stateKey struct{}

func withState(ctx context.Context, s *msgState) context.Context {
	return context.WithValue(ctx, stateKey{}, s)
}

// noteOrder records the order a message is about, for the dispatcher's logs.
func noteOrder(ctx context.Context, orderID string) {
	if s, ok := ctx.Value(stateKey{}).(*msgState); ok && orderID != "" {
		s.orderID = orderID
	}
}

// eventType is the routing key: the eventType attribute, which the ingress,
// replay and the local scheduler always set.
//
// EventBridge Scheduler cannot set message attributes, so the deployed
// schedule's {"type":"cleanup.run"} arrives without one; for that type alone
// the body's top-level "type" is trusted. Stripe bodies also have a "type",
// but they are deliberately not routed by it: every producer of Stripe events
// sets the attribute, so one without it did not come through the ingress or
// replay and belongs in the DLQ for a person to look at. A stray cleanup.run
// is harmless by contrast: it carries no data and cleanup is idempotent.
func eventType(msg domain.Message) string {
	if t := msg.Attributes[domain.AttrEventType]; t != "" {
		return t
	}
	var body struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(msg.Body, &body) == nil && body.Type == domain.EventCleanupRun {
		return domain.EventCleanupRun
	}
	return ""
}

// eventID is the Stripe event id of a message: its attribute, else the dedup
// id the ingress derived from it.
func eventID(msg domain.Message) string {
	if id := msg.Attributes[domain.AttrEventID]; id != "" {
		return id
	}
	return msg.DedupID
}

// msgFields are the fields every log line about a message carries (SPEC §11).
func msgFields(msg domain.Message, orderID string) []zap.Field {
	fields := []zap.Field{
		zap.String(logging.FieldEventID, eventID(msg)),
		zap.String(logging.FieldEventType, eventType(msg)),
		zap.String(logging.FieldGroup, msg.GroupID),
		zap.Int(logging.FieldReceiveCount, msg.ReceiveCount),
	}
	if orderID != "" {
		fields = append(fields, zap.String(logging.FieldOrderID, orderID))
	}
	return fields
}

var (
	_ Handler = HandlerFunc(nil)
	_ Handler = (*Stripe)(nil)
	_ Handler = (*Cleanup)(nil)
)
