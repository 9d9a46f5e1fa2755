package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/orderflow/orderflow/domain"
)

// binary is the orderflow command built once for every test in this package:
// the end-to-end tests run the real process, as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orderflow-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "orderflow")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building orderflow for the end-to-end tests failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const testWebhookSecret = "whsec_e2e_test_secret_0123456789"

// harness runs `orderflow serve` and the CLI against one data folder.
type harness struct {
	t       *testing.T
	backend string // "sqlite" or "aws"
	dir     string
	addr    string
	env     []string
	mu      sync.Mutex
	serve   *exec.Cmd
	logs    *lockedBuffer
	exited  chan error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newHarness prepares a data folder and environment; extra entries
// ("KEY=value") override the defaults, so the AWS end-to-end test reuses it.
func newHarness(t *testing.T, extra ...string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, backend: "sqlite", dir: dir, addr: freeAddr(t), logs: &lockedBuffer{}}
	h.env = append(os.Environ(),
		"ORDERFLOW_DB="+filepath.Join(dir, "orderflow.db"),
		"ORDERFLOW_ADDR="+h.addr,
		"STRIPE_WEBHOOK_SECRET="+testWebhookSecret,
		"ORDERFLOW_VISIBILITY_TIMEOUT=2s",
		"ORDERFLOW_MAX_RECEIVES=3",
		"ORDERFLOW_CLEANUP_INTERVAL=1h",
		"LOG_LEVEL=info",
	)
	h.env = append(h.env, extra...)
	t.Cleanup(func() {
		h.stop(syscall.SIGKILL)
		if t.Failed() {
			logs := h.logs.String()
			if len(logs) > 6000 {
				logs = "…" + logs[len(logs)-6000:]
			}
			t.Logf("serve output (tail):\n%s", logs)
		}
	})
	return h
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs `orderflow serve` and waits until /healthz answers.
func (h *harness) start() {
	h.t.Helper()
	h.mu.Lock()
	cmd := exec.Command(binary, "serve")
	cmd.Env = h.env
	cmd.Dir = h.dir
	cmd.Stdout, cmd.Stderr = h.logs, h.logs
	if err := cmd.Start(); err != nil {
		h.mu.Unlock()
		h.t.Fatal(err)
	}
	h.serve = cmd
	exited := make(chan error, 1)
	h.exited = exited
	h.mu.Unlock()
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			h.t.Fatalf("serve exited during start-up: %v", err)
		default:
		}
		resp, err := http.Get("http://" + h.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatal("serve did not answer /healthz within 60s")
}

// stop signals serve and waits for it; it returns the exit error.
func (h *harness) stop(sig syscall.Signal) error {
	h.mu.Lock()
	cmd, exited := h.serve, h.exited
	h.serve = nil
	h.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case err := <-exited:
		return err
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return fmt.Errorf("serve did not stop within 30s of %v", sig)
	}
}

// cli runs one operator command and returns stdout, stderr and the exit code.
func (h *harness) cli(stdin string, args ...string) (string, string, int) {
	h.t.Helper()
	return h.cliWith(stdin, nil, args...)
}

// cliWith is cli with extra environment entries ("KEY=value") on top of the
// harness's own.
func (h *harness) cliWith(stdin string, extraEnv []string, args ...string) (string, string, int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(append([]string{}, h.env...), extraEnv...)
	cmd.Dir = h.dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatalf("orderflow %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustCLI runs a command that must succeed.
func (h *harness) mustCLI(stdin string, args ...string) string {
	h.t.Helper()
	out, errOut, code := h.cli(stdin, args...)
	if code != 0 {
		h.t.Fatalf("orderflow %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func (h *harness) putOrder(id, pi string, amount int64) {
	h.t.Helper()
	o := map[string]any{"id": id, "userId": "usr_" + id, "sellerId": "sel_1", "productId": "prd_1", "amount": amount, "currency": "usd"}
	if pi != "" {
		o["stripePaymentIntentId"] = pi
	}
	b, _ := json.Marshal(o)
	h.mustCLI(string(b), "orders", "put", "-f", "-")
}

func (h *harness) getOrder(id string) domain.Order {
	h.t.Helper()
	var o domain.Order
	if err := json.Unmarshal([]byte(h.mustCLI("", "orders", "get", id)), &o); err != nil {
		h.t.Fatal(err)
	}
	return o
}

// waitOrder polls the CLI until cond holds, failing after a generous deadline.
func (h *harness) waitOrder(id string, what string, cond func(domain.Order) bool) domain.Order {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var o domain.Order
	for time.Now().Before(deadline) {
		o = h.getOrder(id)
		if cond(o) {
			return o
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("order %s never reached %q; last: %+v", id, what, o)
	return o
}

// post sends a body signed with secret to the webhook endpoint.
func (h *harness) post(body []byte, secret string) (int, string) {
	h.t.Helper()
	return postSigned("http://"+h.addr+"/webhooks/stripe", body, secret)
}

func postSigned(url string, body []byte, secret string) (int, string) {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now()})
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Stripe-Signature", signed.Header)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fixture reads a Stripe event from testdata/events and rewrites its
// placeholders (see testdata/events/README.md).
func fixture(t *testing.T, name string, replace ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(replace...).Replace(string(raw)))
}

func timelineTypes(o domain.Order) []string {
	var types []string
	for _, e := range o.Timeline {
		types = append(types, e.Type)
	}
	return types
}

func countEvent(o domain.Order, eventID string) int {
	n := 0
	for _, e := range o.Timeline {
		if e.EventID == eventID {
			n++
		}
	}
	return n
}

func sleepBriefly() { time.Sleep(100 * time.Millisecond) }
