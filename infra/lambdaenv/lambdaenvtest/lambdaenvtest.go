// Package lambdaenvtest holds the start-up checks every Lambda main's tests
// make: a bad environment is refused with an error naming each problem, and
// main then fails the init with one JSON log line rather than a panic stack.
// It is test support; nothing in a deployed binary imports it.
package lambdaenvtest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
)

// runMainEnv makes the test binary run main() instead of the tests, so the
// init failure of the real entry point can be observed from outside.
const runMainEnv = "ORDERFLOW_TEST_RUN_MAIN"

// Main is the body of a Lambda main's TestMain: it runs main instead of the
// tests when InitFails re-executes the test binary.
func Main(m *testing.M, main func()) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// Handler builds a function's handler with newHandler on env, releases it
// through t.Cleanup and wraps it as the Lambda runtime does, so that a test's
// invocations go through the same JSON decoding as on Lambda.
func Handler[H any](ctx context.Context, t *testing.T, newHandler func(context.Context, func(string) string) (H, func() error, error), env map[string]string) lambda.Handler {
	t.Helper()
	h, cleanup, err := newHandler(ctx, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	t.Cleanup(func() { _ = cleanup() })
	return lambda.NewHandler(h)
}

// BadConfig is an environment a function's newHandler must refuse.
type BadConfig struct {
	Name string
	Env  map[string]string
	// Want are the names the error must mention, so every problem is
	// reported at once.
	Want []string
	// Secrets are values of Env the error must not show.
	Secrets []string
}

// RefusesBadConfig checks, in parallel subtests, that newHandler refuses each
// environment with an error naming what is wrong.
func RefusesBadConfig[H any](t *testing.T, newHandler func(context.Context, func(string) string) (H, func() error, error), tests []BadConfig) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			_, _, err := newHandler(context.Background(), func(k string) string { return tt.Env[k] })
			if err == nil {
				t.Fatal("newHandler succeeded, want a configuration error")
			}
			for _, w := range tt.Want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			for _, s := range tt.Secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows a secret value", err)
				}
			}
		})
	}
}

// InitFails re-executes the test binary to run main (see Main) with env and
// PATH as its whole environment, and checks that it exits with status 1
// after exactly one JSON error log line that names want.
func InitFails(t *testing.T, env []string, want string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append([]string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("main exited with %v, want status 1; output:\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "cannot start") || !strings.Contains(lines[0], want) || strings.Contains(string(out), "goroutine") {
		t.Fatalf("init failure printed %d lines, want one naming %s:\n%s", len(lines), want, out)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil || line["level"] != "error" {
		t.Errorf("init failure line is not a JSON error log line: %s (%v)", lines[0], err)
	}
}
