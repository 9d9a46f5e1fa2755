package workers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/workers"
)

// sqsRecordJSON is one record of an SQS event exactly as Lambda delivers it to
// a function on a FIFO queue; %s are the JSON-quoted body and the
// messageAttributes object.
const sqsRecordJSON = `{
  "messageId": %q,
  "receiptHandle": "AQEB%s-receipt",
  "body": %s,
  "attributes": {
    "ApproximateReceiveCount": "2",
    "SentTimestamp": "1709294400123",
    "SequenceNumber": "18849496460467696128",
    "MessageGroupId": %q,
    "SenderId": "AROAEXAMPLE:orderflow-ingress",
    "MessageDeduplicationId": %q,
    "ApproximateFirstReceiveTimestamp": "1709294400200"
  },
  "messageAttributes": %s,
  "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
  "eventSource": "aws:sqs",
  "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orderflow-events-dev.fifo",
  "awsRegion": "us-east-1"
}`

// sqsRecord renders one Lambda SQS record; attrs become String message
// attributes (none at all when nil, as EventBridge Scheduler sends them).
func sqsRecord(t *testing.T, id string, body []byte, group, dedup string, attrs map[string]string) string {
	t.Helper()
	quoted, err := json.Marshal(string(body))
	if err != nil {
		t.Fatal(err)
	}
	ma := "{}"
	if attrs != nil {
		parts := make([]string, 0, len(attrs))
		for k, v := range attrs {
			parts = append(parts, fmt.Sprintf(`%q: {"stringValue": %q, "stringListValues": [], "binaryListValues": [], "dataType": "String"}`, k, v))
		}
		slices.Sort(parts)
		ma = "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf(sqsRecordJSON, id, id, quoted, group, dedup, ma)
}

// sqsEvent unmarshals records into the aws-lambda-go type, as the runtime does.
func sqsEvent(t *testing.T, records ...string) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	if err := json.Unmarshal([]byte(`{"Records": [`+strings.Join(records, ",")+`]}`), &ev); err != nil {
		t.Fatalf("SQS event JSON: %v", err)
	}
	return ev
}

// stripeRecord is a Stripe event as the ingress enqueued it.
func stripeRecord(t *testing.T, id string, body []byte) string {
	t.Helper()
	m := message(t, id, body, "")
	return sqsRecord(t, id, body, m.GroupID, m.DedupID, m.Attributes)
}

// stripeRecordIn is stripeRecord in message group group, for an event that
// must share a group with events of another payment intent.
func stripeRecordIn(t *testing.T, id string, body []byte, group string) string {
	t.Helper()
	m := message(t, id, body, group)
	return sqsRecord(t, id, body, m.GroupID, m.DedupID, m.Attributes)
}

func failures(resp events.SQSEventResponse) []string {
	ids := make([]string, len(resp.BatchItemFailures))
	for i, f := range resp.BatchItemFailures {
		ids[i] = f.ItemIdentifier
	}
	return ids
}

func TestHandleSQSConvertsRecords(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []domain.Message
	capture := workers.HandlerFunc(func(_ context.Context, msg domain.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, msg)
		return nil
	})
	b := setup(t, setupOpts{extra: map[string]workers.Handler{"test.capture": capture}})
	ev := sqsEvent(t, sqsRecord(t, "m-1", []byte(`{"hello":"world"}`), "grp_1", "dedup_1",
		map[string]string{domain.AttrEventType: "test.capture", domain.AttrEventID: "evt_1", domain.AttrSource: domain.SourceReplay}))

	resp, err := b.disp.HandleSQS(b.ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("HandleSQS = %v, %v; want no failures", failures(resp), err)
	}
	if len(got) != 1 {
		t.Fatalf("handler saw %d messages, want 1", len(got))
	}
	want := domain.Message{
		ID: "m-1", Body: []byte(`{"hello":"world"}`), GroupID: "grp_1", DedupID: "dedup_1", ReceiveCount: 2,
		SentAt:     time.UnixMilli(1709294400123).UTC(),
		Attributes: map[string]string{domain.AttrEventType: "test.capture", domain.AttrEventID: "evt_1", domain.AttrSource: domain.SourceReplay},
		Receipt:    "AQEBm-1-receipt",
	}
	m := got[0]
	if m.ID != want.ID || string(m.Body) != string(want.Body) || m.GroupID != want.GroupID || m.DedupID != want.DedupID ||
		m.ReceiveCount != want.ReceiveCount || !m.SentAt.Equal(want.SentAt) || m.Receipt != want.Receipt || fmt.Sprint(m.Attributes) != fmt.Sprint(want.Attributes) {
		t.Errorf("converted message =\n  %+v\nwant\n  %+v", m, want)
	}
}

func TestHandleSQSReportsFIFOBatchItemFailures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createOrder(t, "ord_a", "pi_a", nil)
	b.createOrder(t, "ord_b", "pi_b", nil)
	ev := sqsEvent(t,
		stripeRecord(t, "a1", fixture(t, "payment_intent.succeeded.json", "a", "ord_a", "pi_a")),
		stripeRecord(t, "b1", fixture(t, "payment_intent.succeeded.json", "b", "ord_b", "pi_b")),
		// Its order does not exist yet: a transient failure that blocks group pi_a.
		stripeRecordIn(t, "a2", fixture(t, "payment_intent.payment_failed.json", "a_missing", "ord_missing", "pi_a_missing"), "pi_a"),
		stripeRecord(t, "a3", fixture(t, "charge.refunded.json", "a", "ord_a", "pi_a")),
		stripeRecord(t, "b2", fixture(t, "charge.refunded.json", "b", "ord_b", "pi_b")),
	)

	resp, err := b.disp.HandleSQS(b.ctx, ev)
	if err != nil {
		t.Fatalf("HandleSQS error = %v; a batch must never fail as a whole", err)
	}
	if got := failures(resp); !slices.Equal(got, []string{"a2", "a3"}) {
		t.Fatalf("BatchItemFailures = %v, want [a2 a3]", got)
	}
	if a := b.order(t, "ord_a"); a.Status != domain.StatusCompleted || len(a.Timeline) != 1 {
		t.Errorf("ord_a = %s %v, want completed by a1 only", a.Status, timelineTypes(a))
	}
	if bo := b.order(t, "ord_b"); bo.Status != domain.StatusRefunded || len(bo.Timeline) != 2 {
		t.Errorf("ord_b = %s %v, want refunded by b1 and b2", bo.Status, timelineTypes(bo))
	}
	// A response must serialize to what Lambda expects.
	raw, err := json.Marshal(resp)
	if err != nil || !strings.Contains(string(raw), `"batchItemFailures":[{"itemIdentifier":"a2"},{"itemIdentifier":"a3"}]`) {
		t.Errorf("response JSON = %s, %v", raw, err)
	}
}

func TestHandleSQSRoutesAttributelessMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		body          func(t *testing.T) []byte
		group         string
		wantCancelled bool
		wantDLQ       bool
	}{
		{
			name:          "scheduled cleanup without attributes runs the cleanup",
			body:          func(*testing.T) []byte { return []byte(`{"type":"cleanup.run"}`) },
			group:         domain.CleanupGroup,
			wantCancelled: true,
		},
		{
			name: "Stripe event without eventType attribute is not routed by its body",
			body: func(t *testing.T) []byte {
				return fixture(t, "payment_intent.succeeded.json", "noattr", "ord_stale", "pi_stale")
			},
			group:   "pi_stale",
			wantDLQ: true,
		},
		{
			name:    "other body type without attribute is dead-lettered",
			body:    func(*testing.T) []byte { return []byte(`{"type":"cleanup.everything"}`) },
			group:   domain.CleanupGroup,
			wantDLQ: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			stale := cleanupOrders(t, b)
			// Content-based deduplication: the dedup id is a body hash.
			ev := sqsEvent(t, sqsRecord(t, "s1", tt.body(t), tt.group, "0f1e2d3c4b5a69788796a5b4c3d2e1f0", nil))

			resp, err := b.disp.HandleSQS(b.ctx, ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("HandleSQS = %v, %v; want the message acknowledged", failures(resp), err)
			}
			o := b.order(t, stale)
			if cancelled := o.Status == domain.StatusCancelled; cancelled != tt.wantCancelled {
				t.Errorf("%s status = %s %v, want cancelled=%v", stale, o.Status, timelineTypes(o), tt.wantCancelled)
			}
			if tt.wantCancelled && (len(o.Timeline) != 1 || o.Timeline[0].Type != domain.EntryCleanupCancelled) {
				t.Errorf("%s timeline = %v, want one cleanup_cancelled", stale, timelineTypes(o))
			}
			dead, err := b.dlq.Receive(b.ctx, 10, 0)
			if err != nil {
				t.Fatalf("receive dlq: %v", err)
			}
			if got := len(dead) == 1; got != tt.wantDLQ {
				t.Fatalf("dlq holds %d messages, want dead-lettered=%v", len(dead), tt.wantDLQ)
			}
			if tt.wantDLQ && !strings.Contains(dead[0].Attributes[domain.AttrLastError], "unknown eventType") {
				t.Errorf("lastError = %q, want unknown eventType", dead[0].Attributes[domain.AttrLastError])
			}
		})
	}
}
