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

// TestDevAdminTokenNotPrintedIntoLogs: with ORDERFLOW_DEV_ADMIN_TOKEN (as
// `make run > serve.log 2>&1`), serve keeps the dev operator token in the
// data folder and, stderr not being a terminal, prints the console URL and
// the file but never the token.
func TestDevAdminTokenNotPrintedIntoLogs(t *testing.T) {
	h := newHarness(t, "ORDERFLOW_DEV_ADMIN_TOKEN=true")
	h.start()
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve: %v", err)
	}
	path := filepath.Join(h.dir, "admin-token")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the dev admin token was not kept: %v", err)
	}
	token := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(token, "ofadm_") {
		t.Fatalf("%s does not hold an ofadm_ token", path)
	}
	logs := h.logs.String()
	if strings.Contains(logs, token) || strings.Contains(logs, strings.TrimPrefix(token, "ofadm_")) {
		t.Fatal("serve printed the dev admin token into a pipe")
	}
	if !strings.Contains(logs, path) {
		t.Errorf("serve output does not say where the dev admin token is kept (%s)", path)
	}
	if !strings.Contains(logs, "http://"+h.addr+"/console/queue") {
		t.Errorf("serve output does not give the console URL http://%s/console/queue", h.addr)
	}
}
