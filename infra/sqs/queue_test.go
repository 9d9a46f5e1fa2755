package sqs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/queuetest"
	"github.com/orderflow/orderflow/infra/sqs"
)

// client talks to kumo. KUMO DEVIATION: on a duplicate dedup id kumo answers
// with the MD5 of the first message's body, where SQS recomputes it from the
// request, so the SDK's checksum check fails a duplicate whose body differs
// (queuetest Dedup). The check is off for kumo only; production keeps it.
func client(t *testing.T) *awssqs.Client {
	t.Helper()
	return awssqs.NewFromConfig(emulator.AWSConfig(emulator.Kumo(t)), func(o *awssqs.Options) {
		o.DisableMessageChecksumValidation = true
	})
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// unique makes queue names unique per call: kumo's state is shared by every
// test in the process.
func unique(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// queues creates a fresh events queue and DLQ pair in kumo.
func queues(t *testing.T, c *awssqs.Client, o queuetest.Options) (events, dlq *sqs.Queue) {
	t.Helper()
	base := unique("of")
	eventsURL, dlqURL, err := sqs.CreateFIFOQueues(ctxFor(t), c, base+"-events.fifo", base+"-dlq.fifo", o.MaxReceives, o.VisibilityTimeout)
	if err != nil {
		t.Fatalf("CreateFIFOQueues: %v", err)
	}
	events, err = sqs.NewQueue(c, sqs.Config{QueueURL: eventsURL})
	if err != nil {
		t.Fatal(err)
	}
	dlq, err = sqs.NewQueue(c, sqs.Config{QueueURL: dlqURL})
	if err != nil {
		t.Fatal(err)
	}
	return events, dlq
}

func TestQueueContract(t *testing.T) {
	c := client(t)
	// KUMO DEVIATION: kumo starts the receive count again when it moves a
	// message to the dead-letter queue; SQS keeps it.
	queuetest.RunFeatures(t, queuetest.Features{DeadLetterResetsReceiveCount: true}, func(t *testing.T, o queuetest.Options) queuetest.Queues {
		events, dlq := queues(t, c, o)
		return queuetest.Queues{Events: events, DLQ: dlq}
	})
}

func TestCreateFIFOQueues(t *testing.T) {
	t.Parallel()
	c := client(t)
	ctx := ctxFor(t)
	base := unique("bootstrap")
	eventsURL, dlqURL, err := sqs.CreateFIFOQueues(ctx, c, base+"-events.fifo", base+"-dlq.fifo", 5, 3*time.Minute)
	if err != nil {
		t.Fatalf("CreateFIFOQueues: %v", err)
	}
	attrs := func(url string) map[string]string {
		t.Helper()
		out, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("GetQueueAttributes: %v", err)
		}
		return out.Attributes
	}
	ev, dl := attrs(eventsURL), attrs(dlqURL)
	if ev["FifoQueue"] != "true" || dl["FifoQueue"] != "true" {
		t.Errorf("FifoQueue: events %q, dlq %q, want both true", ev["FifoQueue"], dl["FifoQueue"])
	}
	if got := dl["MessageRetentionPeriod"]; got != "1209600" {
		t.Errorf("DLQ retention = %s s, want 1209600 (14 days)", got)
	}
	if got := ev["VisibilityTimeout"]; got != "180" {
		t.Errorf("events visibility = %s s, want 180", got)
	}
	var redrive struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(ev["RedrivePolicy"]), &redrive); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", ev["RedrivePolicy"], err)
	}
	if redrive.DeadLetterTargetArn != dl["QueueArn"] || strings.Trim(string(redrive.MaxReceiveCount), `"`) != "5" {
		t.Errorf("RedrivePolicy = %s, want the DLQ arn %s and maxReceiveCount 5", ev["RedrivePolicy"], dl["QueueArn"])
	}

	// A rerun, even with other settings, finds the queues and keeps them.
	again1, again2, err := sqs.CreateFIFOQueues(ctx, c, base+"-events.fifo", base+"-dlq.fifo", 3, time.Minute)
	if err != nil {
		t.Fatalf("CreateFIFOQueues rerun: %v", err)
	}
	if again1 != eventsURL || again2 != dlqURL {
		t.Errorf("rerun returned %s %s, want %s %s", again1, again2, eventsURL, dlqURL)
	}
	if got := attrs(eventsURL)["VisibilityTimeout"]; got != "180" {
		t.Errorf("rerun changed the visibility to %s", got)
	}
}

func TestCreateFIFOQueuesInvalid(t *testing.T) {
	t.Parallel()
	c := client(t)
	tests := []struct {
		name, events, dlq string
		maxReceives       int
		visibility        time.Duration
	}{
		{name: "events-not-fifo", events: "a", dlq: "b.fifo", maxReceives: 5},
		{name: "dlq-not-fifo", events: "a.fifo", dlq: "b", maxReceives: 5},
		{name: "same-name", events: "a.fifo", dlq: "a.fifo", maxReceives: 5},
		{name: "zero-receives", events: "a.fifo", dlq: "b.fifo"},
		{name: "visibility-too-long", events: "a.fifo", dlq: "b.fifo", maxReceives: 5, visibility: 13 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := sqs.CreateFIFOQueues(ctxFor(t), c, tt.events, tt.dlq, tt.maxReceives, tt.visibility)
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("err = %v, want domain.ErrInvalid", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	c := client(t)
	tests := []struct {
		name string
		cfg  sqs.Config
		ok   bool
	}{
		{name: "minimal", cfg: sqs.Config{QueueURL: "http://127.0.0.1/q.fifo"}, ok: true},
		{name: "full", cfg: sqs.Config{QueueURL: "u", WaitTime: 20 * time.Second, VisibilityTimeout: time.Minute}, ok: true},
		{name: "no-url", cfg: sqs.Config{}},
		{name: "wait-over-20s", cfg: sqs.Config{QueueURL: "u", WaitTime: 21 * time.Second}},
		{name: "negative-visibility", cfg: sqs.Config{QueueURL: "u", VisibilityTimeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := sqs.NewQueue(c, tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewQueue err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSendNeedsGroupAndDedup(t *testing.T) {
	t.Parallel()
	c := client(t)
	events, _ := queues(t, c, queuetest.Options{VisibilityTimeout: 10 * time.Second, MaxReceives: 5})
	for _, m := range []domain.OutgoingMessage{
		{Body: []byte("{}"), DedupID: "evt_1"},
		{Body: []byte("{}"), GroupID: "pi_1"},
	} {
		_, err := events.Send(ctxFor(t), m)
		if !errors.Is(err, domain.ErrInvalid) || !domain.IsPermanent(err) {
			t.Errorf("Send(group %q, dedup %q) = %v, want a permanent ErrInvalid", m.GroupID, m.DedupID, err)
		}
	}
}

func TestMissingQueue(t *testing.T) {
	t.Parallel()
	c := client(t)
	q, err := sqs.NewQueue(c, sqs.Config{QueueURL: "http://127.0.0.1:4566/000000000000/" + unique("missing") + ".fifo"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	_, sendErr := q.Send(ctx, domain.OutgoingMessage{Body: []byte("{}"), GroupID: "g", DedupID: "d"})
	_, recvErr := q.Receive(ctx, 1, 0)
	_, statsErr := q.Stats(ctx)
	for op, err := range map[string]error{"send": sendErr, "receive": recvErr, "stats": statsErr} {
		if !errors.Is(err, domain.ErrNotFound) || !strings.Contains(err.Error(), "sqs "+op) {
			t.Errorf("%s on a missing queue: %v, want domain.ErrNotFound naming the operation", op, err)
		}
	}
}

// TestPeekAcrossGroups peeks more messages than one receive returns, spread
// over groups, and checks nothing stays hidden and receive counts grow by one
// per peek, as documented.
func TestPeekAcrossGroups(t *testing.T) {
	t.Parallel()
	c := client(t)
	ctx := ctxFor(t)
	events, dlq := queues(t, c, queuetest.Options{VisibilityTimeout: 30 * time.Second, MaxReceives: 5})
	_ = events
	const groups, perGroup = 8, 3
	for g := range groups {
		for i := range perGroup {
			id := fmt.Sprintf("evt_%d_%d", g, i)
			if _, err := dlq.Send(ctx, domain.OutgoingMessage{
				Body: []byte(`{"id":"` + id + `"}`), GroupID: fmt.Sprintf("pi_%d", g), DedupID: id,
				Attributes: map[string]string{domain.AttrEventID: id, domain.AttrLastError: ""},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	const total = groups * perGroup
	got, err := dlq.Peek(ctx, 100)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	if len(got) != total {
		t.Fatalf("Peek(100) returned %d messages, want all %d", len(got), total)
	}
	seen := map[string]bool{}
	for i, m := range got {
		if seen[m.ID] {
			t.Errorf("Peek returned message %s twice", m.ID)
		}
		seen[m.ID] = true
		if m.ReceiveCount != 1 || m.Receipt != "" {
			t.Errorf("peeked message %d: receive count %d, receipt %q; want 1 and none", i, m.ReceiveCount, m.Receipt)
		}
		if _, ok := m.Attributes[domain.AttrLastError]; ok {
			t.Errorf("an empty attribute was sent: %v", m.Attributes)
		}
		if i > 0 && m.SentAt.Before(got[i-1].SentAt) {
			t.Errorf("Peek is not oldest first at %d", i)
		}
	}
	limited, err := dlq.Peek(ctx, 5)
	if err != nil || len(limited) != 5 {
		t.Fatalf("Peek(5) = %d messages, %v", len(limited), err)
	}
	// Everything is visible again: a plain receive gets it all at once,
	// each counted once per peek that saw it.
	received := 0
	deadline := time.Now().Add(20 * time.Second)
	for received < total && time.Now().Before(deadline) {
		msgs, err := dlq.Receive(ctx, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.ReceiveCount < 2 {
				t.Errorf("message %s: receive count %d after a peek, want at least 2", m.ID, m.ReceiveCount)
			}
			if err := dlq.Delete(ctx, m.Receipt); err != nil {
				t.Fatal(err)
			}
			received++
		}
	}
	if received != total {
		t.Fatalf("after peeking, %d of %d messages could be received", received, total)
	}
	if st, err := dlq.Stats(ctx); err != nil || st != (domain.QueueStats{}) {
		t.Errorf("Stats after draining = %+v, %v; want empty", st, err)
	}
}
