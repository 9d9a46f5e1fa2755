package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminTokenNewAndServe makes a token with the CLI, configures its
// config line on serve, and uses it on the admin API serve mounts; the
// development token of ORDERFLOW_DEV_ADMIN_TOKEN works beside it.
func TestAdminTokenNewAndServe(t *testing.T) {
	h := newHarness(t)
	out := h.mustCLI("", "admin", "token", "new", "--actor", "adm_7", "--role", "operator")
	var tok struct {
		ActorID, Role, Token, SHA256, ConfigLine string
		SecretEntry                              map[string]string
	}
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatalf("admin token new printed %q: %v", out, err)
	}
	sum := sha256.Sum256([]byte(tok.Token))
	if !strings.HasPrefix(tok.Token, "ofadm_") || len(tok.Token) < 40 || tok.SHA256 != hex.EncodeToString(sum[:]) ||
		tok.ConfigLine != "adm_7:operator:"+tok.SHA256 || tok.SecretEntry["sha256"] != tok.SHA256 || tok.SecretEntry["actorId"] != "adm_7" {
		t.Fatalf("admin token new = %+v", tok)
	}
	for _, args := range [][]string{
		{"admin", "token", "new", "--role", "operator"},
		{"admin", "token", "new", "--actor", "adm_7", "--role", "root"},
		{"admin", "token", "new", "--actor", "adm:7", "--role", "viewer"},
	} {
		if _, errOut, code := h.cli("", args...); code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 with one line", args, code, errOut)
		}
	}

	h.env = append(h.env, "ORDERFLOW_ADMIN_TOKENS="+tok.ConfigLine, "ORDERFLOW_DEV_ADMIN_TOKEN=true")
	h.putOrder("ord_1", "", 2000)
	h.start()
	dev, err := os.ReadFile(filepath.Join(h.dir, "admin-token"))
	if err != nil {
		t.Fatalf("dev admin token not kept: %v", err)
	}
	if strings.Contains(h.logs.String(), strings.TrimSpace(string(dev))) {
		t.Errorf("serve printed the dev admin token into a pipe")
	}
	for _, token := range []string{tok.Token, strings.TrimSpace(string(dev))} {
		req, _ := http.NewRequest("GET", "http://"+h.addr+"/admin/v1/orders/ord_1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":"ord_1"`) {
			t.Errorf("GET /admin/v1/orders/ord_1 = %d %s", resp.StatusCode, body)
		}
	}
	resp, err := http.Get("http://" + h.addr + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasSuffix(resp.Request.URL.Path, "/console/signin") {
		t.Errorf("GET /console/ signed out = %d at %s, want the sign-in page", resp.StatusCode, resp.Request.URL.Path)
	}
	if strings.Contains(h.logs.String(), tok.Token) {
		t.Errorf("serve logged the operator's token")
	}
}

// TestServeV1PathsAnswerInTheAdminShape: serve sends every /v1/ path to the
// admin handler, so a wrong method on /v1/access is 405 with Allow: GET and
// an unknown /v1/ path 404, both {"error":{"code","message"}}, not the
// ingress's {"error":"…"}.
func TestServeV1PathsAnswerInTheAdminShape(t *testing.T) {
	h := newHarness(t, "ORDERFLOW_DEV_ADMIN_TOKEN=true")
	h.start()
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/v1/access/", 404, ""},
		{"GET", "/v1/other", 404, ""},
		{"POST", "/v1/access", 405, "GET"},
	} {
		req, _ := http.NewRequest(c.method, "http://"+h.addr+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || json.Unmarshal(body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("%s %s = %d %s (Allow %q), want %d in the admin error shape", c.method, c.path, resp.StatusCode, body, resp.Header.Get("Allow"), c.status)
		}
	}
}
