package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/lambdaenv/lambdaenvtest"
)

func TestMain(m *testing.M) { lambdaenvtest.Main(m, main) }

// sqsRecordJSON is one record of an SQS event exactly as Lambda delivers it
// from a FIFO queue; body and messageAttributes are filled in as JSON.
const sqsRecordJSON = `{
      "messageId": %q,
      "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a%s",
      "body": %s,
      "attributes": {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1709294400123",
        "SequenceNumber": "18849496460467696128",
        "MessageGroupId": %q,
        "SenderId": "AROAIWPX5BD2BHG722MW4:orderflow-IngressFunction",
        "MessageDeduplicationId": %q,
        "ApproximateFirstReceiveTimestamp": "1709294400200"
      },
      "messageAttributes": %s,
      "md5OfMessageAttributes": "b2e2f8f2a9a8f2a8e2b2f8f2a9a8f2a8",
      "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
      "eventSource": "aws:sqs",
      "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orderflow-events-prod.fifo",
      "awsRegion": "us-east-1"
    }`

// record renders one SQS record. attrs become String message attributes; nil
// gives none at all, as EventBridge Scheduler sends the cleanup message.
func record(t *testing.T, id string, body []byte, group, dedup string, attrs map[string]string) string {
	t.Helper()
	quoted, err := json.Marshal(string(body))
	if err != nil {
		t.Fatal(err)
	}
	ma := "{}"
	if attrs != nil {
		var parts []string
		for k, v := range attrs {
			parts = append(parts, fmt.Sprintf(`%q: {"stringValue": %q, "stringListValues": [], "binaryListValues": [], "dataType": "String"}`, k, v))
		}
		slices.Sort(parts)
		ma = "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf(sqsRecordJSON, id, id, quoted, group, dedup, ma)
}

// stripeRecord is a Stripe event as the ingress enqueued it.
func stripeRecord(t *testing.T, id string, body []byte) string {
	t.Helper()
	ev, err := domain.ParseEvent(body)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return record(t, id, body, ev.GroupID(), ev.ID, map[string]string{
		domain.AttrEventType: ev.Type, domain.AttrEventID: ev.ID, domain.AttrSource: domain.SourceWebhook,
	})
}

// sqsEvent wraps records into the event JSON and checks that it decodes into
// the aws-lambda-go type, as the runtime does.
func sqsEvent(t *testing.T, records ...string) []byte {
	t.Helper()
	raw := []byte("{\n  \"Records\": [\n    " + strings.Join(records, ",\n    ") + "\n  ]\n}")
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) != len(records) {
		t.Fatalf("SQS event JSON: %v", err)
	}
	return raw
}

// fixture reads a Stripe event fixture; tag makes the event ids unique, and
// the order and payment intent are the given ones.
func fixture(t *testing.T, file, tag, orderID, pi string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(emulator.RepoRoot(t), "testdata", "events", file))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return []byte(strings.NewReplacer(
		"evt_fixture", "evt_"+tag, "ord_fixture", orderID, "pi_fixture", pi, "ch_fixture", "ch_"+tag,
	).Replace(string(raw)))
}

// env is a function's environment for one backend.
type env map[string]string

func createOrder(t *testing.T, ctx context.Context, s domain.Store, id, pi string, edit func(*domain.Order)) {
	t.Helper()
	o := domain.Order{ID: id, UserID: "u_1", SellerID: "s_1", ProductID: "p_1", Amount: 2000, Currency: "usd", StripePaymentIntentID: pi}
	if edit != nil {
		edit(&o)
	}
	o, err := domain.NewOrder(o, time.Now())
	if err != nil {
		t.Fatalf("new order: %v", err)
	}
	if err := s.Create(ctx, o); err != nil {
		t.Fatalf("create order %s: %v", id, err)
	}
}

func invoke(t *testing.T, ctx context.Context, fn lambda.Handler, payload []byte) []string {
	t.Helper()
	out, err := fn.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func TestWorkerFunction(t *testing.T) {
	for _, b := range emulator.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard only
			defer cancel()
			e := env(b.Env(t))
			// A 3 s visibility gives a 1 s retry budget, so the transient
			// failure below does not keep the test waiting 5 s.
			e["ORDERFLOW_VISIBILITY_TIMEOUT"] = "3s"
			fn := lambdaenvtest.Handler(ctx, t, newHandler, e)
			be := emulator.OpenBackend(ctx, t, e)
			store := be.Store
			createOrder(t, ctx, store, "ord_a", "pi_a", nil)
			createOrder(t, ctx, store, "ord_b", "pi_b", nil)
			createOrder(t, ctx, store, "ord_stale", "pi_stale", func(o *domain.Order) {
				at := time.Now().Add(-2 * time.Hour)
				o.PaymentStatus, o.PaymentFailedAt = domain.PaymentFailed, &at
			})

			// Groups pi_a and pi_b interleaved; a2's order does not exist
			// yet (not-yet), so it is sent again behind a3, which runs; u1
			// has an unknown type (permanent) and goes straight to the DLQ.
			batch := sqsEvent(t,
				stripeRecord(t, "a1", fixture(t, "payment_intent.succeeded.json", "a", "ord_a", "pi_a")),
				stripeRecord(t, "b1", fixture(t, "payment_intent.succeeded.json", "b", "ord_b", "pi_b")),
				stripeRecord(t, "u1", fixture(t, "customer.created.json", "u", "ord_u", "pi_u")),
				// In group pi_a, but neither its order id nor its intent names an order.
				record(t, "a2", fixture(t, "payment_intent.payment_failed.json", "a_missing", "ord_missing", "pi_a_missing"), "pi_a", "evt_a_missing_payment_failed",
					map[string]string{domain.AttrEventType: "payment_intent.payment_failed", domain.AttrEventID: "evt_a_missing_payment_failed", domain.AttrSource: domain.SourceWebhook}),
				stripeRecord(t, "a3", fixture(t, "charge.refunded.json", "a", "ord_a", "pi_a")),
				stripeRecord(t, "b2", fixture(t, "charge.refunded.json", "b", "ord_b", "pi_b")),
			)
			if got := invoke(t, ctx, fn, batch); len(got) != 0 {
				t.Fatalf("batchItemFailures = %v, want none (a2 moved behind its group)", got)
			}
			order := func(id string) domain.Order {
				o, err := store.Get(ctx, id)
				if err != nil {
					t.Fatalf("get %s: %v", id, err)
				}
				return o
			}
			if a := order("ord_a"); a.Status != domain.StatusRefunded || len(a.Timeline) != 2 {
				t.Errorf("ord_a = %s with %d timeline entries, want refunded by a1 and a3", a.Status, len(a.Timeline))
			}
			moved, err := be.Events.Receive(ctx, 10, 2*time.Second)
			if err != nil {
				t.Fatalf("receive events: %v", err)
			}
			if len(moved) != 1 || moved[0].GroupID != "pi_a" || !strings.HasSuffix(moved[0].DedupID, "#later-1") {
				t.Fatalf("events queue = %+v, want a2 sent again in group pi_a with dedup id <event>#later-1", moved)
			}
			// Alone in its batch, the moved a2 is reported failed, as before.
			alone := sqsEvent(t, record(t, "a2b", moved[0].Body, moved[0].GroupID, moved[0].DedupID, moved[0].Attributes))
			if got := invoke(t, ctx, fn, alone); !slices.Equal(got, []string{"a2b"}) {
				t.Fatalf("batchItemFailures = %v, want [a2b]: nothing behind it to let through", got)
			}
			if o := order("ord_b"); o.Status != domain.StatusRefunded || len(o.Timeline) != 2 {
				t.Errorf("ord_b = %s with %d timeline entries, want refunded by b1 and b2", o.Status, len(o.Timeline))
			}
			dead, err := be.DLQ.Receive(ctx, 10, 2*time.Second)
			if err != nil {
				t.Fatalf("receive dlq: %v", err)
			}
			if len(dead) != 1 || dead[0].DedupID != "evt_u_customer_created" || !strings.Contains(dead[0].Attributes[domain.AttrLastError], "unknown eventType") {
				t.Fatalf("dlq = %+v, want only u1 with lastError unknown eventType", dead)
			}

			// The schedule's message: body only, no message attributes.
			cleanupMsg := sqsEvent(t, record(t, "c1", []byte(`{"type":"cleanup.run"}`), domain.CleanupGroup, "3f6b8c1d2e9a", nil))
			if got := invoke(t, ctx, fn, cleanupMsg); len(got) != 0 {
				t.Fatalf("cleanup batchItemFailures = %v, want none", got)
			}
			if o := order("ord_stale"); o.Status != domain.StatusCancelled || len(o.Timeline) != 1 || o.Timeline[0].Type != domain.EntryCleanupCancelled {
				t.Errorf("ord_stale = %s %+v, want cancelled by the scheduled cleanup", o.Status, o.Timeline)
			}
		})
	}
}

func TestWorkerConfigurationErrors(t *testing.T) {
	t.Parallel()
	lambdaenvtest.RefusesBadConfig(t, newHandler, []lambdaenvtest.BadConfig{
		{Name: "nothing set defaults to aws", Env: env{}, Want: []string{"DLQ_URL"}},
		{Name: "bad values", Env: env{"ORDERFLOW_BACKEND": "sqlite", "LOG_LEVEL": "loud", "ORDERFLOW_VISIBILITY_TIMEOUT": "soon"}, Want: []string{"LOG_LEVEL", "ORDERFLOW_VISIBILITY_TIMEOUT"}},
	})
}

func TestBadConfigurationFailsInitWithOneLine(t *testing.T) {
	t.Parallel()
	lambdaenvtest.InitFails(t, nil, "DLQ_URL") // no DLQ_URL
}
