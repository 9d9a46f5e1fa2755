package domain_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/domain"
)

// The seed corpora are in testdata/fuzz/<FuzzName>; `go test` runs them as
// ordinary tests and `make fuzz` mutates them for a while.

// FuzzParseEvent: any body, signed or not, must be answered without a panic,
// and an accepted event has what routing needs: an id and a type.
func FuzzParseEvent(f *testing.F) {
	for _, name := range fixtureNames(f) {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := domain.ParseEvent(raw)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("ParseEvent error %v does not wrap ErrInvalid: a bad body must be a permanent failure", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseEvent error is not one line: %q", err)
			}
			return
		}
		if ev.ID == "" || ev.Type == "" {
			t.Fatalf("ParseEvent accepted an event without id or type: %+v", ev)
		}
		_ = ev.GroupID() // must not panic either
	})
}

// FuzzQueueID: whatever external data a group or dedup id is built from,
// QueueID gives an id every backend accepts, the same one every time, and
// leaves valid ids alone.
func FuzzQueueID(f *testing.F) {
	for _, s := range []string{"pi_3OqX2bLkdIwHu7ix0abc", "ord 1", "ord/ë", strings.Repeat("x", 129), "\x00", "sha256-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id := domain.QueueID(s)
		if s == "" {
			if id != "" {
				t.Fatalf("QueueID(\"\") = %q, want \"\"", id)
			}
			return
		}
		if !domain.ValidQueueID(id) {
			t.Fatalf("QueueID(%q) = %q, not a valid SQS id", s, id)
		}
		if again := domain.QueueID(s); again != id {
			t.Fatalf("QueueID(%q) is not stable: %q then %q", s, id, again)
		}
		if domain.ValidQueueID(s) && id != s {
			t.Fatalf("QueueID changed the valid id %q to %q", s, id)
		}
		if domain.QueueID(id) != id {
			t.Fatalf("QueueID(%q) = %q, but QueueID of that is %q", s, id, domain.QueueID(id))
		}
	})
}

// FuzzDecodeStrict: DecodeStrict never panics and never accepts what
// json.Unmarshal refuses; its errors are ErrInvalid and one line.
func FuzzDecodeStrict(f *testing.F) {
	for _, name := range fixtureNames(f) {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{`{"id":"a","ID":"b"}`, `{"id":"a","id":"b"}`, `{"x":"\ud800"}`, `[{"\u0069d":1}] x`, `{"object":{"metadata":{"a":1}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, known := range []bool{false, true} {
			var d strictDoc
			decode := domain.DecodeStrict
			if known {
				decode = domain.DecodeStrictKnown
			}
			err := decode(raw, &d)
			if err != nil {
				if !errors.Is(err, domain.ErrInvalid) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %q is not one ErrInvalid line", err)
				}
				continue
			}
			var want strictDoc
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("DecodeStrict accepted what json.Unmarshal refuses: %v", err)
			}
		}
	})
}

func fixtureNames(f *testing.F) []string {
	names, err := filepath.Glob(filepath.Join("..", "testdata", "events", "*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no event fixtures: %v", err)
	}
	return names
}
