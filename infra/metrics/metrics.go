// Package metrics writes CloudWatch embedded-metric-format (EMF) lines. On
// Lambda, CloudWatch turns each line into metrics with no agent and no API
// call; locally the same lines are simply logs.
package metrics

import (
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every orderflow metric.
const Namespace = "orderflow"

// Metric names (SPEC §11).
const (
	EventsReceived     = "EventsReceived"
	EventsApplied      = "EventsApplied"
	ReviewFlagged      = "RequiresReviewFlagged"
	RefundFull         = "RefundFull"
	PaymentFailed      = "PaymentFailed"
	DLQMoved           = "DLQMoved"
	DLQParked          = "DLQParked"
	EventsDeadLettered = "EventsDeadLettered"
	RefundFailed       = "RefundFailed"
	DisputeOpened      = "DisputeOpened"
	DisputeWon         = "DisputeWon"
	DisputeLost        = "DisputeLost"
	DuplicatePayment   = "DuplicatePayment"
	OtherPaymentEvent  = "OtherPaymentEvent"
	ModeMismatch       = "ModeMismatch"
)

// Names lists every metric orderflow emits; template.yaml's alarms and
// domain.EffectMetrics may only use these (tests check both).
var Names = []string{
	EventsReceived, EventsApplied, ReviewFlagged, RefundFull, PaymentFailed, DLQMoved, DLQParked,
	EventsDeadLettered, RefundFailed, DisputeOpened, DisputeWon, DisputeLost, DuplicatePayment,
	OtherPaymentEvent, ModeMismatch,
}

// Recorder emits EMF lines. A nil *Recorder records nothing, so callers never
// need to check whether metrics are configured.
type Recorder struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// New returns a recorder writing one JSON line per metric to w.
func New(w io.Writer) *Recorder { return &Recorder{w: w, now: time.Now} }

// Count records value for metric name with the given dimensions
// (for example "eventType": "charge.refunded").
func (r *Recorder) Count(name string, value int, dims map[string]string) {
	if r == nil || r.w == nil {
		return
	}
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": r.now().UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  Namespace,
				"Dimensions": dimensionSets(keys),
				"Metrics":    []map[string]string{{"Name": name, "Unit": "Count"}},
			}},
		},
		name: value,
	}
	for k, v := range dims {
		line[k] = v
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(append(b, '\n'))
}

// dimensionSets publishes every metric also without dimensions, so one
// CloudWatch alarm on the bare metric name sees every event whatever its
// eventType or reason (template.yaml's alarms, SPEC §11).
func dimensionSets(keys []string) [][]string {
	if len(keys) == 0 {
		return [][]string{{}}
	}
	return [][]string{{}, keys}
}
