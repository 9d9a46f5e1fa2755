package emulator

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stripeMockTestKey is the key the readiness probe sends; stripe-mock accepts
// any test-mode-looking key.
const stripeMockTestKey = "sk_test_123"

// StripeMock starts the stripe-mock binary (installed by `make test`) on
// 127.0.0.1, waits until it answers, stops it through t.Cleanup and returns
// its HTTP base URL ("http://127.0.0.1:PORT").
//
// stripe-mock picks its own free ports (an address with an empty port) and
// prints them, which cannot race with another process the way probing for a
// free port and passing it on can. It answers every request with fixture
// objects that match the OpenAPI spec, and rejects parameters the real API
// would reject, so it checks the shape of requests, not business data.
func StripeMock(t testing.TB) string {
	t.Helper()
	bin, err := stripeMockBinary()
	if err != nil {
		t.Fatalf("%v", err)
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				addrc <- strings.TrimSpace(addr)
			}
		}
		// Keep draining so stripe-mock never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}()
	deadline := time.After(startTimeout)
	var addr string
	select {
	case addr = <-addrc:
	case <-done:
		t.Fatalf("start stripe-mock: it exited before listening (stderr: %s)", firstLine(stderr.String()))
	case <-deadline:
		t.Fatalf("start stripe-mock: not listening after %s", startTimeout)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("start stripe-mock: unexpected listen address %q", addr)
	}
	base := "http://127.0.0.1:" + port

	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if err := stripeMockPing(client, base); err == nil {
			return base
		}
		select {
		case <-done:
			t.Fatalf("start stripe-mock: it exited while starting (stderr: %s)", firstLine(stderr.String()))
		case <-deadline:
			t.Fatalf("start stripe-mock: no answer at %s after %s", base, startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stripeMockBinary finds stripe-mock on PATH or where `go install` puts it.
func stripeMockBinary() (string, error) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "stripe-mock")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("stripe-mock is not installed: run `make test` (it runs `go install github.com/stripe/stripe-mock@v0.203.0`) or that go install yourself")
}

func stripeMockPing(client *http.Client, base string) error {
	req, err := http.NewRequest(http.MethodGet, base+"/v1/charges?limit=1", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+stripeMockTestKey)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/charges: %s", resp.Status)
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// StripeEvent is one event the StripeEvents stand-in serves.
type StripeEvent struct {
	// Raw is the event's JSON, as Stripe would return it.
	Raw []byte
	// Delivered is the event's delivery state: GET /v1/events with
	// delivery_success=false lists only events that are not delivered.
	Delivered bool
}

// StripeEventsServer is a stand-in for Stripe's events endpoints serving given
// events, where stripe-mock can only serve its own fixtures.
type StripeEventsServer struct {
	// URL is the base URL to use as STRIPE_API_BASE.
	URL string

	mu       sync.Mutex
	events   []stripeEvent
	requests []string
}

type stripeEvent struct {
	id        string
	created   int64
	raw       []byte
	delivered bool
}

// StripeEvents starts the stand-in on 127.0.0.1, closed through t.Cleanup.
// It serves GET /v1/events/{id} (404 with Stripe's resource_missing error for
// an unknown id) and GET /v1/events, newest first, honouring
// delivery_success, created[gte], limit and starting_after as Stripe does,
// and answers 401 without a Bearer sk_/rk_ key.
func StripeEvents(t testing.TB, events ...StripeEvent) *StripeEventsServer {
	t.Helper()
	s := &StripeEventsServer{}
	for _, e := range events {
		var head struct {
			ID      string `json:"id"`
			Created int64  `json:"created"`
		}
		if err := json.Unmarshal(e.Raw, &head); err != nil || head.ID == "" {
			t.Fatalf("StripeEvents: an event is not a Stripe event (%v)", err)
		}
		s.events = append(s.events, stripeEvent{id: head.ID, created: head.Created, raw: e.Raw, delivered: e.Delivered})
	}
	// Stripe lists newest first; equal times keep the given order reversed,
	// as later-created events come first.
	sort.SliceStable(s.events, func(i, j int) bool { return s.events[i].created > s.events[j].created })

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("StripeEvents: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/events/{id}", s.get)
	mux.HandleFunc("GET /v1/events", s.list)
	srv := &http.Server{Handler: s.auth(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.URL = "http://" + l.Addr().String()
	return s
}

// Requests returns the method, path and query of every request served.
func (s *StripeEventsServer) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *StripeEventsServer) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		s.mu.Unlock()
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !(strings.HasPrefix(key, "sk_") || strings.HasPrefix(key, "rk_")) {
			stripeError(w, http.StatusUnauthorized, "", "You did not provide a valid API key.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *StripeEventsServer) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.id == id {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(e.raw)
			return
		}
	}
	stripeError(w, http.StatusNotFound, "resource_missing", fmt.Sprintf("No such event: '%s'", id))
}

func (s *StripeEventsServer) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			stripeError(w, http.StatusBadRequest, "parameter_invalid_integer", "Invalid limit: must be between 1 and 100")
			return
		}
		limit = n
	}
	var gte int64
	if v := q.Get("created[gte]"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			stripeError(w, http.StatusBadRequest, "parameter_invalid_integer", "Invalid created[gte]")
			return
		}
		gte = n
	}
	delivery := q.Get("delivery_success")
	after := q.Get("starting_after")

	s.mu.Lock()
	defer s.mu.Unlock()
	var match []stripeEvent
	for _, e := range s.events {
		if e.created < gte || (delivery == "false" && e.delivered) || (delivery == "true" && !e.delivered) {
			continue
		}
		match = append(match, e)
	}
	if after != "" {
		for i, e := range match {
			if e.id == after {
				match = match[i+1:]
				break
			}
		}
	}
	more := len(match) > limit
	if more {
		match = match[:limit]
	}
	data := make([]json.RawMessage, len(match))
	for i, e := range match {
		data[i] = e.raw
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": "/v1/events", "has_more": more, "data": data})
}

func stripeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := map[string]string{"type": "invalid_request_error", "message": msg}
	if code != "" {
		e["code"] = code
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}
