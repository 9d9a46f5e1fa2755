package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDevSecretNotPrintedIntoLogs: with no STRIPE_WEBHOOK_SECRET, serve makes
// one and keeps it in the data folder; when stderr is not a terminal (here a
// pipe, as under a service manager) it names the file but never prints the
// value.
func TestDevSecretNotPrintedIntoLogs(t *testing.T) {
	h := newHarness(t, "STRIPE_WEBHOOK_SECRET=")
	h.start()
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve: %v", err)
	}
	path := filepath.Join(h.dir, "webhook-secret")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the dev secret was not kept: %v", err)
	}
	secret := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("%s does not hold a whsec_ secret", path)
	}
	logs := h.logs.String()
	if strings.Contains(logs, secret) || strings.Contains(logs, strings.TrimPrefix(secret, "whsec_")) {
		t.Fatal("serve printed the dev webhook secret into a pipe")
	}
	if !strings.Contains(logs, path) {
		t.Errorf("serve output does not say where the dev secret is kept (%s)", path)
	}
}
