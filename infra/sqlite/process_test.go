package sqlite_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/sqlite"
)

// receiverEnv names the database a child process of
// TestSeparateProcessesNeverDoubleDeliver receives from.
const receiverEnv = "ORDERFLOW_SQLITE_RECEIVER_DB"

// TestReceiverProcess is the child side of the multi-process test: it
// receives and deletes until the queue is empty, printing what it got.
func TestReceiverProcess(t *testing.T) {
	path := os.Getenv(receiverEnv)
	if path == "" {
		t.Skip("helper of TestSeparateProcessesNeverDoubleDeliver; it only runs as that test's child process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events", VisibilityTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	receiveAll(ctx, t, q, func(m domain.Message) { fmt.Printf("RECEIVED %s\n", m.ID) })
}

// receiveAll receives and deletes until nothing is left in the queue.
func receiveAll(ctx context.Context, t *testing.T, q *sqlite.Queue, got func(domain.Message)) {
	for ctx.Err() == nil {
		msgs, err := q.Receive(ctx, 3, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, m := range msgs {
			got(m)
			if err := q.Delete(ctx, m.Receipt); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		if len(msgs) == 0 {
			st, err := q.Stats(ctx)
			if err != nil {
				t.Fatalf("Stats: %v", err)
			}
			if st == (domain.QueueStats{}) {
				return
			}
		}
	}
}

// TestSeparateProcessesNeverDoubleDeliver receives from one file in this
// process and two child processes at once, as `orderflow serve` and the CLI
// would; every message must be delivered exactly once.
func TestSeparateProcessesNeverDoubleDeliver(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: starts two child processes")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "orderflow.db")
	db := openAt(t, path)
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events", VisibilityTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 150
	sent := map[string]bool{}
	for i := range n {
		sent[mustSend(t, q, out(fmt.Sprint("g", i%30), fmt.Sprint("evt_", i)))] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var children []*exec.Cmd
	var outputs []*bytes.Buffer
	for range 2 {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReceiverProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), receiverEnv+"="+path)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		children, outputs = append(children, cmd), append(outputs, &buf)
	}
	delivered := map[string]int{}
	receiveAll(ctx, t, q, func(m domain.Message) { delivered[m.ID]++ })
	mine := len(delivered)
	for i, cmd := range children {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outputs[i])
		}
		sc := bufio.NewScanner(outputs[i])
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "RECEIVED "); ok {
				delivered[id]++
			}
		}
	}
	for id := range sent {
		if delivered[id] != 1 {
			t.Errorf("message %s delivered %d times, want once", id, delivered[id])
		}
	}
	if len(delivered) != n {
		t.Errorf("delivered %d distinct messages, want %d", len(delivered), n)
	}
	t.Logf("this process received %d of %d; the children the rest", mine, n)
}
