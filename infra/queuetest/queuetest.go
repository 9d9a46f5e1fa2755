// Package queuetest is the contract test suite of domain.Queue (and
// domain.Inspector): SQS FIFO semantics that every backend (SQLite, SQS on an
// emulator) must show. Real backends keep real time, so the suite uses short
// whole-second timeouts, polls with generous deadlines and never asserts how
// long something took beyond "before the wait ended".
package queuetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// Options configures the queues one test needs.
type Options struct {
	// VisibilityTimeout of the events queue; whole seconds, as SQS wants.
	VisibilityTimeout time.Duration
	// MaxReceives is the redrive limit of the events queue into DLQ.
	MaxReceives int
}

// Queues is a fresh, empty events queue redriving into its dead-letter queue.
// Both also implement domain.Inspector when the backend can.
type Queues struct {
	Events, DLQ domain.Queue
}

// testTimeout bounds each test so a hanging backend fails instead of stalling.
const testTimeout = 60 * time.Second

// defaults are the options of tests that do not care: no redelivery or
// redrive during a test that deletes what it receives.
var defaults = Options{VisibilityTimeout: 10 * time.Second, MaxReceives: 5}

// Features names the parts of the contract a backend is not held to. The
// zero value holds it to all of them, which is how SQS behaves; a flag marks a
// known gap (of a backend, or of the emulator it is tested on) and is set, with
// the reason, where the suite is run, as watermill's Features do, instead of
// a t.Skip inside the suite.
type Features struct {
	// DeadLetterResetsReceiveCount: the move to the dead-letter queue starts
	// the receive count again, where SQS keeps it.
	DeadLetterResetsReceiveCount bool
	// NoSendLimits: Send accepts ids and sizes SQS refuses.
	NoSendLimits bool
}

// Run runs the whole queue contract. newQueues must return new, empty queues
// on every call; tests run in parallel.
func Run(t *testing.T, newQueues func(t *testing.T, o Options) Queues) {
	t.Helper()
	RunFeatures(t, Features{}, newQueues)
}

// RunFeatures runs the queue contract less the parts f exempts.
func RunFeatures(t *testing.T, f Features, newQueues func(t *testing.T, o Options) Queues) {
	t.Helper()
	tests := []struct {
		name string
		opts Options
		run  func(t *testing.T, q Queues)
		skip bool // exempted by f; not run at all
	}{
		{"SendReceiveDelete", Options{VisibilityTimeout: time.Second, MaxReceives: 5}, testSendReceiveDelete, false},
		{"Dedup", defaults, testDedup, false},
		{"FIFOWithinGroup", defaults, testFIFOWithinGroup, false},
		{"GroupBlockedWhileInFlight", defaults, testGroupBlocked, false},
		{"VisibilityTimeoutRedelivers", Options{VisibilityTimeout: time.Second, MaxReceives: 5}, testRedelivery, false},
		{"ChangeVisibilityZero", Options{VisibilityTimeout: 30 * time.Second, MaxReceives: 5}, testChangeVisibilityZero, false},
		{"DeadLetterAfterMaxReceives", Options{VisibilityTimeout: time.Second, MaxReceives: 2}, testDeadLetter, false},
		{"LongPollReturnsEarly", defaults, testLongPollEarly, false},
		{"LongPollEmpty", defaults, testLongPollEmpty, false},
		{"ReceiveAtMostTen", defaults, testReceiveAtMostTen, false},
		{"ConcurrentReceivers", Options{VisibilityTimeout: 30 * time.Second, MaxReceives: 5}, testConcurrentReceivers, false},
		{"Inspector", defaults, testInspector, false},
		{"DeadLetterKeepsReceiveCount", Options{VisibilityTimeout: time.Second, MaxReceives: 2}, testDeadLetterKeepsCount, f.DeadLetterResetsReceiveCount},
		{"SendRejectsWhatSQSRejects", defaults, testSendLimits, f.NoSendLimits},
	}
	for _, tc := range tests {
		if tc.skip {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newQueues(t, tc.opts))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func uid(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

// msg builds an event-like message; body carries a label the tests read back.
func msg(group, label string) domain.OutgoingMessage {
	evt := uid("evt")
	return domain.OutgoingMessage{
		Body:    []byte(fmt.Sprintf(`{"id":%q,"object":"event","label":%q}`, evt, label)),
		GroupID: group,
		DedupID: evt,
		Attributes: map[string]string{
			domain.AttrEventType: domain.EventPaymentSucceeded, domain.AttrEventID: evt, domain.AttrSource: domain.SourceWebhook,
		},
	}
}

func send(ctx context.Context, t *testing.T, q domain.Queue, m domain.OutgoingMessage) string {
	t.Helper()
	id, err := q.Send(ctx, m)
	if err != nil {
		t.Fatalf("Send(group %s): %v", m.GroupID, err)
	}
	if id == "" {
		t.Fatalf("Send(group %s) returned an empty message id", m.GroupID)
	}
	return id
}

func mustDelete(ctx context.Context, t *testing.T, q domain.Queue, m domain.Message) {
	t.Helper()
	if err := q.Delete(ctx, m.Receipt); err != nil {
		t.Fatalf("Delete(%s): %v", m.ID, err)
	}
}

// receiveOne polls until a message arrives or within passes.
func receiveOne(ctx context.Context, t *testing.T, q domain.Queue, within time.Duration) domain.Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		msgs, err := q.Receive(ctx, 1, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if len(msgs) > 1 {
			t.Fatalf("Receive(max 1) returned %d messages", len(msgs))
		}
		if len(msgs) == 1 {
			return msgs[0]
		}
	}
	t.Fatalf("no message within %v", within)
	return domain.Message{}
}

// drain receives and deletes until want messages arrived or within passes,
// returning them in delivery order.
func drain(ctx context.Context, t *testing.T, q domain.Queue, want int, within time.Duration) []domain.Message {
	t.Helper()
	var got []domain.Message
	deadline := time.Now().Add(within)
	for len(got) < want && time.Now().Before(deadline) {
		msgs, err := q.Receive(ctx, 10, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, m := range msgs {
			got = append(got, m)
			mustDelete(ctx, t, q, m)
		}
	}
	if len(got) < want {
		t.Fatalf("received %d of %d messages within %v", len(got), want, within)
	}
	return got
}

// assertEmpty polls for d and fails on any message.
func assertEmpty(ctx context.Context, t *testing.T, q domain.Queue, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		msgs, err := q.Receive(ctx, 10, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, m := range msgs {
			t.Errorf("unexpected message %s (group %s, receive %d): %s", m.ID, m.GroupID, m.ReceiveCount, m.Body)
		}
	}
}

func labels(msgs []domain.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, label(m))
	}
	return out
}

// label reads the label msg put in the body; a body that changed in transit
// shows up as a wrong label.
func label(m domain.Message) string {
	var b struct {
		Label string `json:"label"`
	}
	if err := json.Unmarshal(m.Body, &b); err != nil {
		return "?" + string(m.Body)
	}
	return b.Label
}

func assertSameContent(t *testing.T, got domain.Message, want domain.OutgoingMessage) {
	t.Helper()
	if string(got.Body) != string(want.Body) {
		t.Errorf("body = %s, want %s", got.Body, want.Body)
	}
	if got.GroupID != want.GroupID {
		t.Errorf("group = %q, want %q", got.GroupID, want.GroupID)
	}
	for k, v := range want.Attributes {
		if got.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, got.Attributes[k], v, got.Attributes)
		}
	}
}

func testSendReceiveDelete(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	out := msg(uid("pi"), "only")
	out.Body = []byte(`{"id":"evt_1","object":"event","label":"only","text":"ünïcode ✓ <&>","n":[1,2.5]}`)
	out.Attributes[domain.AttrReplayCount] = "2"
	out.Attributes[domain.AttrLastError] = "order not found: ord_1 <&> ✓"
	id := send(ctx, t, q.Events, out)

	got := receiveOne(ctx, t, q.Events, 10*time.Second)
	if got.ID != id {
		t.Errorf("message id = %q, want %q from Send", got.ID, id)
	}
	assertSameContent(t, got, out)
	if got.DedupID != out.DedupID {
		t.Errorf("dedup id = %q, want %q", got.DedupID, out.DedupID)
	}
	if !maps.Equal(got.Attributes, out.Attributes) {
		t.Errorf("attributes = %v, want exactly %v", got.Attributes, out.Attributes)
	}
	if got.ReceiveCount != 1 {
		t.Errorf("receive count = %d, want 1", got.ReceiveCount)
	}
	if got.Receipt == "" {
		t.Error("empty receipt")
	}
	if got.SentAt.IsZero() {
		t.Error("zero SentAt")
	}
	mustDelete(ctx, t, q.Events, got)
	// Past the 1 s visibility timeout a deleted message must not come back.
	assertEmpty(ctx, t, q.Events, 3*time.Second)
}

func testDedup(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	group := uid("pi")
	first := msg(group, "first")
	again := first
	again.Body = []byte(`{"label":"second"}`)
	third := msg(group, "third")

	firstID := send(ctx, t, q.Events, first)
	if _, err := q.Events.Send(ctx, again); err != nil {
		t.Fatalf("Send of a duplicate dedup id must be accepted: %v", err)
	}
	send(ctx, t, q.Events, third)

	got := drain(ctx, t, q.Events, 2, 15*time.Second)
	if l := labels(got); !slices.Equal(l, []string{"first", "third"}) {
		t.Errorf("delivered %v, want [first third]", l)
	}
	if got[0].ID != firstID {
		t.Errorf("first delivery id %q, want %q", got[0].ID, firstID)
	}
	assertEmpty(ctx, t, q.Events, 2*time.Second)
}

func testFIFOWithinGroup(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	groups := []string{uid("pi"), uid("pi"), uid("pi")}
	const perGroup = 5
	for i := range perGroup {
		for _, g := range groups {
			send(ctx, t, q.Events, msg(g, fmt.Sprint(i)))
		}
	}
	seen := map[string][]string{}
	deadline := time.Now().Add(20 * time.Second)
	total := 0
	// Small and varying batch sizes make the order hold across receives.
	for batch := 1; total < perGroup*len(groups) && time.Now().Before(deadline); batch = batch%3 + 1 {
		msgs, err := q.Events.Receive(ctx, batch, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, m := range msgs {
			seen[m.GroupID] = append(seen[m.GroupID], label(m))
			total++
		}
		for _, m := range msgs {
			mustDelete(ctx, t, q.Events, m)
		}
	}
	want := []string{"0", "1", "2", "3", "4"}
	for _, g := range groups {
		if !slices.Equal(seen[g], want) {
			t.Errorf("group %s delivered %v, want %v", g, seen[g], want)
		}
	}
}

func testGroupBlocked(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	a, b := uid("pi"), uid("pi")
	for _, g := range []string{a, b} {
		send(ctx, t, q.Events, msg(g, "1"))
		send(ctx, t, q.Events, msg(g, "2"))
	}
	head := receiveOne(ctx, t, q.Events, 10*time.Second)
	if label(head) != "1" {
		t.Fatalf("first delivery of group %s is message %s, want 1", head.GroupID, label(head))
	}
	blocked, other := head.GroupID, a
	if blocked == a {
		other = b
	}
	// While head is in flight its group must stay blocked; the other flows.
	var otherGot []string
	deadline := time.Now().Add(8 * time.Second)
	for len(otherGot) < 2 && time.Now().Before(deadline) {
		msgs, err := q.Events.Receive(ctx, 10, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, m := range msgs {
			switch {
			case m.GroupID == blocked && m.ID != head.ID:
				t.Fatalf("received message %s of group %s while its message 1 is in flight", label(m), blocked)
			case m.GroupID == other:
				otherGot = append(otherGot, label(m))
				mustDelete(ctx, t, q.Events, m)
			}
		}
	}
	if !slices.Equal(otherGot, []string{"1", "2"}) {
		t.Fatalf("other group delivered %v while one group was blocked, want [1 2]", otherGot)
	}
	mustDelete(ctx, t, q.Events, head)
	next := receiveOne(ctx, t, q.Events, 10*time.Second)
	if next.GroupID != blocked || label(next) != "2" {
		t.Errorf("after deleting the head, got message %s of group %s, want 2 of %s", label(next), next.GroupID, blocked)
	}
	mustDelete(ctx, t, q.Events, next)
}

func testRedelivery(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	out := msg(uid("pi"), "again")
	id := send(ctx, t, q.Events, out)
	first := receiveOne(ctx, t, q.Events, 10*time.Second)
	if first.ReceiveCount != 1 {
		t.Errorf("first receive count = %d, want 1", first.ReceiveCount)
	}
	// Not deleted: it must come back after the 1 s visibility timeout.
	second := receiveOne(ctx, t, q.Events, 15*time.Second)
	if second.ID != id || second.ReceiveCount != 2 {
		t.Fatalf("redelivery: id %s count %d, want id %s count 2", second.ID, second.ReceiveCount, id)
	}
	assertSameContent(t, second, out)
	if second.Receipt == first.Receipt {
		t.Error("the receipt did not change on redelivery")
	}
	// The stale receipt must not delete the message (SQS accepts the call
	// and does nothing; an error, if any, must be ErrNotFound).
	if err := q.Events.Delete(ctx, first.Receipt); err != nil && !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Delete with a stale receipt: %v, want nil or ErrNotFound", err)
	}
	if err := q.Events.ChangeVisibility(ctx, second.Receipt, 0); err != nil {
		t.Fatalf("ChangeVisibility with the current receipt after a stale Delete: %v", err)
	}
	third := receiveOne(ctx, t, q.Events, 10*time.Second)
	if third.ID != id || third.ReceiveCount != 3 {
		t.Errorf("after a stale Delete: id %s count %d, want id %s count 3", third.ID, third.ReceiveCount, id)
	}
	mustDelete(ctx, t, q.Events, third)
}

func testChangeVisibilityZero(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	id := send(ctx, t, q.Events, msg(uid("pi"), "back"))
	first := receiveOne(ctx, t, q.Events, 10*time.Second)
	if err := q.Events.ChangeVisibility(ctx, first.Receipt, 0); err != nil {
		t.Fatalf("ChangeVisibility(0): %v", err)
	}
	// The visibility timeout is 30 s, so only ChangeVisibility(0) can bring
	// it back within this deadline.
	again := receiveOne(ctx, t, q.Events, 10*time.Second)
	if again.ID != id || again.ReceiveCount != 2 {
		t.Errorf("after ChangeVisibility(0): id %s count %d, want id %s count 2", again.ID, again.ReceiveCount, id)
	}
	mustDelete(ctx, t, q.Events, again)
}

func testDeadLetter(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	const maxReceives = 2
	out := msg(uid("pi"), "poison")
	out.Attributes[domain.AttrReplayCount] = "1"
	id := send(ctx, t, q.Events, out)
	d, maxSeen := failUntilDead(ctx, t, q, maxReceives)
	if maxSeen != maxReceives {
		t.Errorf("moved after %d receives, want %d", maxSeen, maxReceives)
	}
	if d.ID != id {
		t.Logf("DLQ message id %s differs from %s (allowed)", d.ID, id)
	}
	assertSameContent(t, d, out)
	mustDelete(ctx, t, q.DLQ, d)
	assertEmpty(ctx, t, q.Events, 2*time.Second)
}

// testDeadLetterKeepsCount: SQS keeps a message's receive count when it moves
// it to the dead-letter queue, and `dlq list` shows it so an operator can see
// how many attempts were made.
func testDeadLetterKeepsCount(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	const maxReceives = 2
	send(ctx, t, q.Events, msg(uid("pi"), "poison"))
	d, _ := failUntilDead(ctx, t, q, maxReceives)
	if d.ReceiveCount <= maxReceives {
		t.Errorf("first receive from the DLQ has receive count %d, want more than the %d receives before the move", d.ReceiveCount, maxReceives)
	}
	mustDelete(ctx, t, q.DLQ, d)
}

// failUntilDead receives from the events queue, failing every message at once
// as a worker does, until one reaches the dead-letter queue; it returns that
// message, received from the DLQ, and the highest receive count seen before.
func failUntilDead(ctx context.Context, t *testing.T, q Queues, maxReceives int) (domain.Message, int) {
	t.Helper()
	maxSeen := 0
	var dead []domain.Message
	deadline := time.Now().Add(25 * time.Second)
	for len(dead) == 0 && time.Now().Before(deadline) {
		msgs, err := q.Events.Receive(ctx, 10, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, m := range msgs {
			if m.ReceiveCount > maxReceives {
				t.Fatalf("received with count %d, past the limit %d", m.ReceiveCount, maxReceives)
			}
			maxSeen = max(maxSeen, m.ReceiveCount)
			// Fail fast, as a worker does, instead of waiting out the timeout.
			if err := q.Events.ChangeVisibility(ctx, m.Receipt, 0); err != nil {
				t.Fatalf("ChangeVisibility(0): %v", err)
			}
		}
		if dead, err = q.DLQ.Receive(ctx, 10, 0); err != nil {
			t.Fatalf("Receive from the DLQ: %v", err)
		}
	}
	if len(dead) != 1 {
		t.Fatalf("the DLQ holds %d messages after %d receives, want 1", len(dead), maxSeen)
	}
	return dead[0], maxSeen
}

// testSendLimits: Send refuses, as SQS does, group and dedup ids outside
// 1–128 characters from '!' to '~' and messages over 256 KiB (body plus
// attribute names, types and values), with a permanent ErrInvalid, and
// enqueues nothing; what is just inside the limits goes through intact.
func testSendLimits(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	const maxSize = 262144
	group := uid("pi")
	bad := []struct {
		name string
		edit func(m *domain.OutgoingMessage)
	}{
		{"group id with a space", func(m *domain.OutgoingMessage) { m.GroupID = "ord 1" }},
		{"group id of 129 characters", func(m *domain.OutgoingMessage) { m.GroupID = strings.Repeat("g", 129) }},
		{"group id with a non-ASCII letter", func(m *domain.OutgoingMessage) { m.GroupID = "caf\u00e9" }},
		{"empty group id", func(m *domain.OutgoingMessage) { m.GroupID = "" }},
		{"dedup id with a slash and a space", func(m *domain.OutgoingMessage) { m.DedupID = "evt/1 2" }},
		{"dedup id of 129 characters", func(m *domain.OutgoingMessage) { m.DedupID = strings.Repeat("d", 129) }},
		{"body and attributes one byte over 256 KiB", func(m *domain.OutgoingMessage) {
			m.Body = padTo(m, maxSize+1)
		}},
	}
	for _, tc := range bad {
		m := msg(group, "refused")
		tc.edit(&m)
		_, err := q.Events.Send(ctx, m)
		if !errors.Is(err, domain.ErrInvalid) || domain.KindOf(err) != domain.KindPermanent {
			t.Errorf("Send with %s = %v, want a permanent ErrInvalid", tc.name, err)
		}
	}
	// Just inside: a 128-character group of the edge characters, and a
	// message with room to spare for what an adapter adds on the wire.
	edge := msg(strings.Repeat("!~", 64), "edge")
	big := msg(group, "big")
	big.Body = padTo(&big, maxSize-1024)
	for _, m := range []domain.OutgoingMessage{edge, big} {
		send(ctx, t, q.Events, m)
	}
	got := drain(ctx, t, q.Events, 2, 15*time.Second)
	if ls := labels(got); !slices.Equal(sorted(ls), []string{"big", "edge"}) {
		t.Fatalf("received %v, want only the two messages inside the limits", ls)
	}
	for _, m := range got {
		if label(m) == "big" {
			assertSameContent(t, m, big)
		}
	}
	assertEmpty(ctx, t, q.Events, 2*time.Second)
}

// padTo returns a JSON body that keeps m's label and makes m's size, counted
// as SQS does, exactly size bytes.
func padTo(m *domain.OutgoingMessage, size int) []byte {
	attrs := 0
	for k, v := range m.Attributes {
		attrs += len(k) + len("String") + len(v)
	}
	head := fmt.Sprintf(`{"label":%q,"pad":"`, label(domain.Message{Body: m.Body}))
	tail := `"}`
	return []byte(head + strings.Repeat("x", size-attrs-len(head)-len(tail)) + tail)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func testLongPollEarly(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	const wait = 15 * time.Second
	type result struct {
		msgs    []domain.Message
		err     error
		elapsed time.Duration
	}
	done := make(chan result, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		start := time.Now()
		msgs, err := q.Events.Receive(ctx, 10, wait)
		done <- result{msgs, err, time.Since(start)}
	}()
	<-started
	time.Sleep(300 * time.Millisecond)
	id := send(ctx, t, q.Events, msg(uid("pi"), "late"))
	r := <-done
	if r.err != nil {
		t.Fatalf("Receive: %v", r.err)
	}
	if len(r.msgs) != 1 || r.msgs[0].ID != id {
		t.Fatalf("long poll returned %d messages, want the one sent while it waited", len(r.msgs))
	}
	if r.elapsed >= wait {
		t.Errorf("long poll returned after its whole wait (%v), not when the message arrived", r.elapsed)
	}
	mustDelete(ctx, t, q.Events, r.msgs[0])
}

func testLongPollEmpty(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	const wait = time.Second
	start := time.Now()
	msgs, err := q.Events.Receive(ctx, 10, wait)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Receive on an empty queue: %v", err)
	}
	if len(msgs) != 0 {
		t.Fatalf("Receive on an empty queue returned %d messages", len(msgs))
	}
	if elapsed < wait/2 {
		t.Errorf("Receive with wait %v on an empty queue returned after %v: it did not wait", wait, elapsed)
	}
}

func testReceiveAtMostTen(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	const n = 12
	for i := range n {
		send(ctx, t, q.Events, msg(uid("pi"), fmt.Sprint(i)))
	}
	msgs, err := q.Events.Receive(ctx, 25, 2*time.Second)
	if err != nil {
		t.Fatalf("Receive(max 25): %v", err)
	}
	if len(msgs) == 0 || len(msgs) > 10 {
		t.Fatalf("Receive(max 25) returned %d messages, want 1 to 10", len(msgs))
	}
	for _, m := range msgs {
		mustDelete(ctx, t, q.Events, m)
	}
	drain(ctx, t, q.Events, n-len(msgs), 15*time.Second)
}

func testConcurrentReceivers(t *testing.T, q Queues) {
	ctx := ctxFor(t)
	const groups, perGroup, receivers = 4, 5, 4
	var names []string
	for range groups {
		names = append(names, uid("pi"))
	}
	for i := range perGroup {
		for _, g := range names {
			send(ctx, t, q.Events, msg(g, fmt.Sprint(i)))
		}
	}
	var mu sync.Mutex
	delivered := map[string]int{}
	order := map[string][]string{}
	total := 0
	deadline := time.Now().Add(25 * time.Second)
	var wg sync.WaitGroup
	for range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				mu.Lock()
				finished := total >= groups*perGroup
				mu.Unlock()
				if finished {
					return
				}
				msgs, err := q.Events.Receive(ctx, 3, time.Second)
				if err != nil {
					t.Errorf("Receive: %v", err)
					return
				}
				mu.Lock()
				for _, m := range msgs {
					delivered[m.ID]++
					order[m.GroupID] = append(order[m.GroupID], label(m))
					total++
				}
				mu.Unlock()
				for _, m := range msgs {
					if err := q.Events.Delete(ctx, m.Receipt); err != nil {
						t.Errorf("Delete: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	for id, n := range delivered {
		if n != 1 {
			t.Errorf("message %s delivered %d times with a 30 s visibility timeout", id, n)
		}
	}
	if len(delivered) != groups*perGroup {
		t.Errorf("delivered %d distinct messages, want %d", len(delivered), groups*perGroup)
	}
	want := []string{"0", "1", "2", "3", "4"}
	for _, g := range names {
		if !slices.Equal(order[g], want) {
			t.Errorf("group %s processed in order %v, want %v", g, order[g], want)
		}
	}
}

func testInspector(t *testing.T, q Queues) {
	ins, ok := q.Events.(domain.Inspector)
	if !ok {
		t.Skip("SKIPPED: this backend's queue does not implement domain.Inspector; Stats and Peek are untested")
	}
	ctx := ctxFor(t)
	a, b := uid("pi"), uid("pi")
	outs := []domain.OutgoingMessage{msg(a, "a1"), msg(a, "a2"), msg(b, "b1")}
	var ids []string
	for _, o := range outs {
		ids = append(ids, send(ctx, t, q.Events, o))
	}
	waitStats(ctx, t, ins, domain.QueueStats{Visible: 3})

	peeked, err := ins.Peek(ctx, 10)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	var peekedIDs []string
	for _, m := range peeked {
		peekedIDs = append(peekedIDs, m.ID)
	}
	if !slices.Equal(peekedIDs, ids) {
		t.Fatalf("Peek ids %v, want %v oldest first", peekedIDs, ids)
	}
	for i, m := range peeked {
		assertSameContent(t, m, outs[i])
	}
	if one, err := ins.Peek(ctx, 1); err != nil || len(one) != 1 {
		t.Errorf("Peek(1) = %d messages, %v; want 1", len(one), err)
	}
	// Peek must leave everything visible: all three are still delivered.
	head := receiveOne(ctx, t, q.Events, 10*time.Second)
	waitStats(ctx, t, ins, domain.QueueStats{Visible: 2, InFlight: 1})
	mustDelete(ctx, t, q.Events, head)
	drain(ctx, t, q.Events, 2, 15*time.Second)
	waitStats(ctx, t, ins, domain.QueueStats{})
}

// waitStats polls until Stats reports want; SQS counts are approximate and lag.
func waitStats(ctx context.Context, t *testing.T, ins domain.Inspector, want domain.QueueStats) {
	t.Helper()
	var got domain.QueueStats
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got, err = ins.Stats(ctx); err == nil && got == want {
			return
		}
	}
	t.Fatalf("Stats = %+v (err %v), want %+v", got, err, want)
}
