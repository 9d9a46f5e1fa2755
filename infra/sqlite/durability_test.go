package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/infra/sqlite"
)

// TestConcurrentSendsAreDurableWhenAnswered sends from 200 goroutines at once
// (group commit puts many in one transaction), then reads the file through a
// second, independent handle: every send that was answered is there.
func TestConcurrentSendsAreDurableWhenAnswered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orderflow.db")
	q, err := sqlite.NewQueue(openAt(t, path), sqlite.QueueConfig{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	const senders = 200
	var mu sync.Mutex
	acked := map[string]string{} // message id → dedup id
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			m := out(fmt.Sprint("g", i%20), fmt.Sprint("evt_", i))
			id, err := q.Send(ctx, m)
			if err != nil {
				t.Errorf("Send(%s): %v", m.DedupID, err)
				return
			}
			mu.Lock()
			acked[id] = m.DedupID
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()

	other, err := sqlite.NewQueue(openAt(t, path), sqlite.QueueConfig{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := other.Peek(ctx, 10*senders)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, m := range stored {
		found[m.ID] = m.DedupID
	}
	for id, dedup := range acked {
		if found[id] != dedup {
			t.Errorf("answered send %s (%s) is not in the file", id, dedup)
		}
	}
	if len(stored) != senders || len(acked) != senders {
		t.Errorf("%d answered, %d stored; want %d of each", len(acked), len(stored), senders)
	}
}

// crashSenderEnv names the database the child of TestKillMidSendLosesNoAck
// sends to.
const crashSenderEnv = "ORDERFLOW_SQLITE_CRASH_SENDER_DB"

// TestCrashSenderProcess is the child side of TestKillMidSendLosesNoAck: 32
// goroutines send until the process is killed, each printing the id of every
// send that was answered.
func TestCrashSenderProcess(t *testing.T) {
	path := os.Getenv(crashSenderEnv)
	if path == "" {
		t.Skip("helper of TestKillMidSendLosesNoAck; it only runs as that test's child process")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	stdout := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				dedup := fmt.Sprintf("evt_%d_%d", w, i)
				id, err := q.Send(ctx, out(fmt.Sprint("g", w), dedup))
				if err != nil {
					fmt.Fprintf(os.Stderr, "Send: %v\n", err)
					os.Exit(1)
				}
				// Printed, and flushed, only after Send answered: the parent
				// holds the file to every line it read.
				mu.Lock()
				fmt.Fprintf(stdout, "ACK %s %s\n", id, dedup)
				stdout.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestKillMidSendLosesNoAck kills (SIGKILL) a process while 32 goroutines in
// it send; every send it reported as answered must be in the reopened file.
func TestKillMidSendLosesNoAck(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: starts a child process")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "orderflow.db")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashSenderProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashSenderEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	acked := map[string]string{}
	sc := bufio.NewScanner(stdout)
	const killAfter = 500
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ACK" {
			acked[f[1]] = f[2]
		}
		if len(acked) == killAfter {
			// Killed while its senders are mid-commit: no clean shutdown.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = cmd.Wait()
	if len(acked) < killAfter {
		t.Fatalf("the child answered %d sends before it ended, want at least %d; stderr:\n%s", len(acked), killAfter, stderr.String())
	}

	q, err := sqlite.NewQueue(openAt(t, path), sqlite.QueueConfig{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := q.Peek(ctx, 1000000)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, m := range stored {
		found[m.ID] = m.DedupID
	}
	for id, dedup := range acked {
		if found[id] != dedup {
			t.Errorf("acknowledged send %s (%s) lost in the crash", id, dedup)
		}
	}
	t.Logf("%d sends acknowledged before the kill, %d in the file after it", len(acked), len(stored))
}
