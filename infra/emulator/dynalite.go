package emulator

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// dynaliteBoot runs the npm dynalite package in memory on 127.0.0.1. It asks
// the kernel for the port (listen on 0) instead of cli.js's fixed --port, so
// parallel test binaries never race for one, and it exits when its stdin
// closes: the pipe's write end belongs to the test binary, so the emulator
// dies with it even when the binary is killed and no cleanup runs.
const dynaliteBoot = `
const dynalite = require(process.argv[1]);
const server = dynalite({createTableMs: 50, deleteTableMs: 50, updateTableMs: 50});
server.listen(0, '127.0.0.1', () => console.log('dynalite-port=' + server.address().port));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
`

// startTimeout bounds the wait for a booting emulator; a loaded 2-core CI
// machine can take seconds to start node, so it is generous on purpose.
const startTimeout = 60 * time.Second

var shared struct {
	once     sync.Once
	endpoint string
	err      error
}

// Dynalite returns the endpoint ("http://127.0.0.1:N") of an in-memory
// dynalite shared by every test in this test binary. Sharing saves a node
// start per test; tests must therefore use distinct table names (see
// TableName). The emulator stops when the test binary exits.
func Dynalite(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		root, err := repoRoot()
		if err != nil {
			shared.err = err
			return
		}
		// The shared process outlives the test that started it, so it is not
		// tied to t: it stops when the binary exits and closes its stdin.
		var p *dynaliteProcess
		p, shared.err = startDynalite(root)
		if p != nil {
			shared.endpoint = p.endpoint
		}
	})
	if shared.err != nil {
		t.Fatalf("%v", shared.err)
	}
	return shared.endpoint
}

// StartDynalite starts a private in-memory dynalite for t alone, stopped with
// t.Cleanup, and returns its endpoint. Use it when a test needs to stop the
// emulator or must not share its tables; otherwise Dynalite is cheaper.
func StartDynalite(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	p, err := startDynalite(root)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(p.stop)
	return p.endpoint
}

// TableName returns a table name unique within this process, derived from the
// test name so a leftover table in a shared emulator says who made it.
func TableName(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 200 {
		name = name[:200]
	}
	return fmt.Sprintf("%s-%d", name, tableSeq.next())
}

var tableSeq counter

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// RepoRoot returns the module root: the nearest directory at or above the
// working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return root
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repo root: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

type dynaliteProcess struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	endpoint string
	done     chan struct{}
}

// stop closes stdin (dynalite exits on EOF) and kills it if it lingers.
func (p *dynaliteProcess) stop() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func notInstalled(root, why string) error {
	return fmt.Errorf("dynalite is not installed (%s): run `make test` (it runs npm ci) or `npm ci` in %s; Node.js 20+ is required", why, root)
}

func startDynalite(root string) (*dynaliteProcess, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, notInstalled(root, "node is not on PATH")
	}
	pkg := filepath.Join(root, "node_modules", "dynalite")
	if _, err := os.Stat(filepath.Join(pkg, "package.json")); err != nil {
		return nil, notInstalled(root, "no node_modules/dynalite")
	}
	if v, err := exec.Command(node, "--version").Output(); err == nil {
		if major, ok := nodeMajor(string(v)); ok && major < 20 {
			return nil, notInstalled(root, "node is "+strings.TrimSpace(string(v)))
		}
	}

	cmd := exec.Command(node, "-e", dynaliteBoot, pkg)
	cmd.Dir = root
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	p := &dynaliteProcess{cmd: cmd, stdin: stdin, done: make(chan struct{})}

	portc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if port, ok := strings.CutPrefix(sc.Text(), "dynalite-port="); ok {
				portc <- port
			}
		}
		// Keep draining so dynalite never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()

	fail := func(err error) (*dynaliteProcess, error) {
		p.stop()
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, msg)
		}
		return nil, err
	}

	deadline := time.After(startTimeout)
	var port string
	select {
	case port = <-portc:
	case <-p.done:
		return fail(errors.New("start dynalite: node exited before listening"))
	case <-deadline:
		return fail(fmt.Errorf("start dynalite: not listening after %s", startTimeout))
	}
	if _, err := strconv.Atoi(port); err != nil {
		return fail(fmt.Errorf("start dynalite: bad port %q", port))
	}
	p.endpoint = "http://127.0.0.1:" + port

	// Listening is not answering: wait for the health answer on GET /.
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if err := ping(client, p.endpoint); err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return fail(errors.New("start dynalite: node exited while starting"))
		case <-deadline:
			return fail(fmt.Errorf("start dynalite: no answer at %s after %s", p.endpoint, startTimeout))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ping(client *http.Client, endpoint string) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, endpoint+"/", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /: %s", resp.Status)
	}
	return nil
}

// nodeMajor reads the major version from `node --version` output ("v20.1.0").
func nodeMajor(v string) (int, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return n, err == nil
}

// syncBuffer is a bytes.Buffer safe for the exec copier and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
