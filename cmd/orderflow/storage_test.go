package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/sqlite"
)

// healthz returns /healthz's status code and decoded body.
func (h *harness) healthz() (int, map[string]string) {
	h.t.Helper()
	resp, err := http.Get("http://" + h.addr + "/healthz")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]string
	if err := json.Unmarshal(raw, &body); err != nil {
		h.t.Fatalf("/healthz body %q: %v", raw, err)
	}
	return resp.StatusCode, body
}

// TestDeletedDatabaseStopsAccepting is issue 12's silent loss: the database
// files are deleted under a running serve and a CLI command makes a new one.
// serve must notice that its file is gone: every webhook from then on is
// refused with 503 (Stripe retries), /healthz says why, and an error is
// logged, where before it answered 200 and wrote the events into the deleted
// file, to be lost on restart.
func TestDeletedDatabaseStopsAccepting(t *testing.T) {
	h := newHarness(t)
	h.start()
	if code, body := h.healthz(); code != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("/healthz on a healthy serve = %d %v", code, body)
	}
	event := func(i int) []byte {
		return fixture(t, "payment_intent.succeeded.json", "evt_fixture_pi_succeeded", fmt.Sprint("evt_lost_", i),
			"pi_fixture", fmt.Sprint("pi_lost_", i), "ord_fixture", fmt.Sprint("ord_lost_", i))
	}
	if code, body := h.post(event(0), testWebhookSecret); code != http.StatusOK {
		t.Fatalf("webhook before the deletion: %d %s", code, body)
	}

	db := filepath.Join(h.dir, "orderflow.db")
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	h.putOrder("ord_after", "", 1000) // any writing CLI command: it makes a new database file

	for i := 1; i <= 10; i++ {
		if code, body := h.post(event(i), testWebhookSecret); code != http.StatusServiceUnavailable {
			t.Errorf("webhook %d after the deletion: %d %s, want 503", i, code, body)
		}
	}
	code, body := h.healthz()
	// Which reason depends on whether serve's first write after the deletion
	// (the event above being settled, say) came before or after the CLI made
	// the new file: "deleted while open" or "not the file opened".
	if code != http.StatusServiceUnavailable || body["status"] != "unavailable" || !strings.Contains(body["reason"], sqlite.ErrFileLost.Error()) {
		t.Errorf("/healthz after the deletion = %d %v, want 503 unavailable with the reason", code, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.logs.String(), "cannot accept writes") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(h.logs.String(), "cannot accept writes") {
		t.Errorf("serve logged no error about its database")
	}

	// A restart opens the new file and accepts again: Stripe's retries of
	// the refused events land there.
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Logf("stop: %v", err)
	}
	h.start()
	if code, body := h.post(event(1), testWebhookSecret); code != http.StatusOK {
		t.Errorf("webhook after the restart: %d %s", code, body)
	}
}

// TestReadOnlyCommandsOnAReadOnlyCopy: orders get, orders list and dlq list
// open the database read-only, so they work on a read-only copy (0400 file in
// a 0500 folder) where opening used to fail writing the schema; a writing
// command there fails with a clear error.
func TestReadOnlyCommandsOnAReadOnlyCopy(t *testing.T) {
	h := newHarness(t)
	h.putOrder("ord_1", "pi_1", 2000)
	src := filepath.Join(h.dir, "orderflow.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: backend.SQLiteDLQ})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dlq.Send(ctx, domain.OutgoingMessage{Body: []byte(`{"id":"evt_dead"}`), GroupID: "pi_1", DedupID: "evt_dead",
		Attributes: map[string]string{domain.AttrEventID: "evt_dead", domain.AttrEventType: domain.EventPaymentSucceeded}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // the last handle: SQLite folds the WAL into the file
		t.Fatal(err)
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "copy")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "orderflow.db")
	if err := os.WriteFile(copyPath, raw, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	env := []string{"ORDERFLOW_DB=" + copyPath}

	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := h.cliWith("", env, args...)
		if code != 0 {
			t.Fatalf("orderflow %s on the read-only copy: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	if out := run("orders", "get", "ord_1"); !strings.Contains(out, `"id":"ord_1"`) {
		t.Errorf("orders get = %s", out)
	}
	if out := run("orders", "list", "--payment-intent", "pi_1"); strings.Count(out, "\n") != 1 || !strings.Contains(out, "ord_1") {
		t.Errorf("orders list = %q, want ord_1 alone", out)
	}
	if out := run("dlq", "list"); !strings.Contains(out, `"eventId":"evt_dead"`) {
		t.Errorf("dlq list = %q, want evt_dead", out)
	}
	if os.Geteuid() == 0 {
		t.Log("running as root, for whom a 0400 file is writable: the refused write is not exercised")
		return
	}
	_, errOut, code := h.cliWith(`{"id":"ord_2","userId":"u","sellerId":"s","productId":"p","amount":1,"currency":"usd"}`, env, "orders", "put", "-f", "-")
	if code == 0 || !strings.Contains(errOut, "read-only") {
		t.Errorf("orders put on the read-only copy: exit %d, stderr %q; want a failure that says read-only", code, errOut)
	}
}

// Dev credential files left readable by others are narrowed to their owner
// when serve starts (the README's promise for every data file).
func TestDevCredentialFilesAreNarrowed(t *testing.T) {
	h := newHarness(t, "ORDERFLOW_DEV_ADMIN_TOKEN=true")
	// Without STRIPE_WEBHOOK_SECRET serve makes and keeps a dev secret.
	env := h.env[:0:0]
	for _, kv := range h.env {
		if !strings.HasPrefix(kv, "STRIPE_WEBHOOK_SECRET=") {
			env = append(env, kv)
		}
	}
	h.env = env
	h.start()
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"webhook-secret", "admin-token"} {
		if err := os.Chmod(filepath.Join(h.dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	for _, name := range []string{"webhook-secret", "admin-token"} {
		info, err := os.Stat(filepath.Join(h.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s is %o after a restart, want 600", name, perm)
		}
	}
}
