package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/sqlite"
)

func removeDBFiles(t *testing.T, path string) {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// TestWritesStopWhenTheFileIsGoneOrReplaced: SQLite would go on writing to
// the open, deleted file, and everything acknowledged from then on would be
// lost on restart. The DB refuses instead, with a reason, and keeps refusing.
func TestWritesStopWhenTheFileIsGoneOrReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		replace bool
		reason  string
	}{
		{"deleted", false, "was deleted while open"},
		{"deleted and made again", true, "is not the file opened"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "orderflow.db")
			db := openAt(t, path)
			q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events"})
			if err != nil {
				t.Fatal(err)
			}
			mustSend(t, q, out("g", "evt_before"))
			if err := db.Check(ctx); err != nil {
				t.Fatalf("Check on a healthy database: %v", err)
			}
			removeDBFiles(t, path)
			if tc.replace {
				openAt(t, path) // what any CLI command did: made a new, empty database
			}
			if err := db.Check(ctx); !errors.Is(err, sqlite.ErrFileLost) || !contains(err, tc.reason) {
				t.Errorf("Check = %v, want ErrFileLost saying %q", err, tc.reason)
			}
			for i := range 3 {
				if _, err := q.Send(ctx, out("g", "evt_after")); !errors.Is(err, sqlite.ErrFileLost) {
					t.Fatalf("Send %d after the file went = %v, want ErrFileLost", i, err)
				}
			}
			if err := sqlite.NewStore(db).Create(ctx, order(t, "ord_1")); !errors.Is(err, sqlite.ErrFileLost) {
				t.Errorf("Create after the file went = %v, want ErrFileLost", err)
			}
			if _, err := q.Receive(ctx, 1, 0); !errors.Is(err, sqlite.ErrFileLost) {
				t.Errorf("Receive after the file went = %v, want ErrFileLost", err)
			}
		})
	}
}

func contains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

func order(t *testing.T, id string) domain.Order {
	t.Helper()
	o, err := domain.NewOrder(domain.Order{ID: id, UserID: "usr_1", SellerID: "sel_1", Amount: 100, Currency: "usd"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestFilesArePrivate: the files hold raw webhook bodies (client secrets,
// billing details), so they are 0600 even in an existing 0755 folder under a
// 022 umask, a folder Open makes is 0700, and wider files left from before
// are narrowed.
func TestFilesArePrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "orderflow.db")
	// A file left by an older version, readable by everyone.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db := openAt(t, path)
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, q, out("g", "evt_1")) // makes sure -wal and -shm exist
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(p), got)
		}
	}
	nested := filepath.Join(t.TempDir(), "new", "data", "orderflow.db")
	openAt(t, nested)
	for _, d := range []string{filepath.Dir(nested), filepath.Dir(filepath.Dir(nested))} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("folder %s made by Open: %v, want mode 0700", d, fi.Mode().Perm())
		}
	}
	if fi, err := os.Stat(nested); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new database file: %v, %v; want mode 0600", fi.Mode().Perm(), err)
	}
}

// TestReadOnlyOpen: read-only commands open the database with ReadOnly. It
// works on a read-only copy (0400 file in a 0500 folder), changes nothing
// there, and every write fails with ErrReadOnly.
func TestReadOnlyOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "orderflow.db")
	db, err := sqlite.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.NewStore(db).Create(ctx, order(t, "ord_1")); err != nil {
		t.Fatal(err)
	}
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events-dlq"})
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, q, out("g", "evt_1"))
	if err := db.Close(); err != nil { // checkpoints: the copy is the one file
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
	path := filepath.Join(dir, "orderflow.db")
	if err := os.WriteFile(path, raw, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })

	ro, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
	if err != nil {
		t.Fatalf("Open read-only copy: %v", err)
	}
	t.Cleanup(func() { ro.Close() })
	s := sqlite.NewStore(ro)
	if o, err := s.Get(ctx, "ord_1"); err != nil || o.ID != "ord_1" {
		t.Errorf("Get = %+v, %v", o, err)
	}
	n := 0
	if err := s.List(ctx, domain.Filter{}, func(domain.Order) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("List = %d orders, %v; want 1", n, err)
	}
	rq, err := sqlite.NewQueue(ro, sqlite.QueueConfig{Name: "events-dlq"})
	if err != nil {
		t.Fatal(err)
	}
	if peek, err := rq.Peek(ctx, 10); err != nil || len(peek) != 1 {
		t.Errorf("Peek = %d messages, %v; want 1", len(peek), err)
	}
	writes := map[string]error{}
	_, writes["Send"] = rq.Send(ctx, out("g", "evt_2"))
	writes["Create"] = s.Create(ctx, order(t, "ord_2"))
	o := order(t, "ord_1")
	o.Version = 2
	writes["Save"] = s.Save(ctx, o, 1, "evt_x")
	_, writes["Receive"] = rq.Receive(ctx, 1, 0)
	writes["Check"] = ro.Check(ctx)
	for name, err := range writes {
		if !errors.Is(err, sqlite.ErrReadOnly) {
			t.Errorf("%s on a read-only open = %v, want ErrReadOnly", name, err)
		}
	}
	if os.Geteuid() != 0 { // root may write anything: nothing to refuse
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("the read-only folder now holds %d files, want only the database", len(entries))
		}
		if db, err := sqlite.Open(ctx, path); !errors.Is(err, sqlite.ErrReadOnly) {
			if db != nil {
				db.Close()
			}
			t.Errorf("read-write Open of the read-only copy = %v, want ErrReadOnly", err)
		}
	}
	if _, err := sqlite.Open(ctx, filepath.Join(dir, "missing.db"), sqlite.ReadOnly()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only Open of a missing file = %v, want ErrNotExist (nothing created)", err)
	}
}

// TestReadOnlyOpenSeesLiveWrites: a read-only command next to a running
// serve reads through the WAL, so it sees what was just committed.
func TestReadOnlyOpenSeesLiveWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orderflow.db")
	rw := openAt(t, path)
	ro, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	if err := sqlite.NewStore(rw).Create(ctx, order(t, "ord_live")); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.NewStore(ro).Get(ctx, "ord_live"); err != nil {
		t.Errorf("read-only Get of a row just written elsewhere: %v", err)
	}
}

// TestCheckFailsOnACorruptFile: a file whose table pages are garbage opens
// (the schema page is intact) but cannot take a send, and Check says so.
func TestCheckFailsOnACorruptFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orderflow.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096 // SQLite's default page size
	for i := 2 * page; i < len(raw); i++ {
		raw[i] = 0xff
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Logf("Open refused the corrupt file at once (also right): %v", err)
		return
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Check(ctx); err == nil || !contains(err, "malformed") {
		t.Errorf("Check on a corrupt file = %v, want SQLite's \"malformed\" reason", err)
	}
}

// TestDamagedOrdersPageStopsWrites: a file whose orders table has one damaged
// page opens, and the health check passes at first (it writes the queue
// table, whose pages are intact). The first read that meets the damage makes
// every write fail with ErrDamaged, the health check included, so serve
// stops accepting webhooks into a file that cannot be trusted.
func TestDamagedOrdersPageStopsWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orderflow.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s := sqlite.NewStore(db)
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 200 { // enough rows for the table to have interior pages
		o, err := domain.NewOrder(domain.Order{ID: fmt.Sprintf("ord_%03d", i), UserID: "usr_1", SellerID: "sel_1", Amount: 100, Currency: "usd"}, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Overwrite the orders table's root page (read straight from the
	// schema) with garbage.
	inspect, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var root int64
	err = inspect.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'orders'`).Scan(&root)
	inspect.Close()
	if err != nil || root < 2 {
		t.Fatalf("orders root page = %d, %v", root, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096 // SQLite's default page size
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, page), (root-1)*page); err != nil {
		t.Fatal(err)
	}
	f.Close()

	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatalf("Check before the damage was met = %v; the probe's own pages are intact", err)
	}
	if _, err := sqlite.NewStore(db).Get(ctx, "ord_007"); err == nil {
		t.Fatal("Get through a damaged page succeeded")
	}
	err = db.Check(ctx)
	if !errors.Is(err, sqlite.ErrDamaged) || !contains(err, "orderflow doctor") {
		t.Errorf("Check after a read met the damage = %v, want ErrDamaged with what to do", err)
	}
	if _, err := q.Send(ctx, domain.OutgoingMessage{GroupID: "g", DedupID: "d", Body: []byte(`{}`)}); !errors.Is(err, sqlite.ErrDamaged) {
		t.Errorf("Send after the damage = %v, want ErrDamaged", err)
	}
}
