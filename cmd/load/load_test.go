package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// binary is the load command, built once: the tests run it as `make load` does.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orderflow-load-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "load")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building load failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func runLoad(t *testing.T, timeout time.Duration, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("load: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	return out.String(), errb.String(), code
}

// TestShortRunReportsExactlyOnce runs every phase at small sizes and checks
// the report's shape and the correctness columns; the rates it prints are
// whatever this machine gives and are not asserted.
func TestShortRunReportsExactlyOnce(t *testing.T) {
	out, errOut, code := runLoad(t, 3*time.Minute, []string{"LOAD_SECONDS=1"},
		"-rates", "100", "-e2e-rate", "100", "-ceiling-events", "300", "-duplicates", "20", "-conns", "8", "-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	final := regexp.MustCompile(`^load: accept/bare=\d+\.\d{3} apply/update=\d+\.\d{3} e2e_p99_ms@100=\d+ lost=0 doubled=0$`)
	if !final.MatchString(last) {
		t.Errorf("last line %q does not match %s\nstdout:\n%s", last, final, out)
	}
	if strings.Count(out, "load: accept/bare=") != 1 {
		t.Errorf("want exactly one final line:\n%s", out)
	}
	for _, want := range []string{
		"LOG_LEVEL=warn", "target", "p99_ms", "e2e_p99", "lost", "doubled", "rss_MB",
		"bare ", "closed 8 conns", "open 100/s", "apply", "duplicates", "fsync", "insert 1 row/commit",
		"insert 32 rows/commit", "read+cond. update 1/tx", "0 orders (want 0)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Not a terminal: no progress bars, nothing on stderr.
	if errOut != "" {
		t.Errorf("stderr is not a terminal, want it quiet; got:\n%s", errOut)
	}
	t.Logf("\n%s", out)
}

func TestUsageErrorsAreReportedTogether(t *testing.T) {
	t.Parallel()
	_, errOut, code := runLoad(t, 30*time.Second, []string{"LOAD_SECONDS=soon"}, "-rates", "100,fast", "-conns", "0")
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"LOAD_SECONDS", "fast", "-conns"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q: %s", want, errOut)
		}
	}
}
