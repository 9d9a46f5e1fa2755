package emulator_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/infra/emulator"
)

func get(t *testing.T, url, key string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestStripeMockAnswersAndStops(t *testing.T) {
	t.Parallel()
	var base string
	t.Run("running", func(t *testing.T) {
		base = emulator.StripeMock(t)
		if !strings.HasPrefix(base, "http://127.0.0.1:") {
			t.Fatalf("base URL %q is not on 127.0.0.1", base)
		}
		code, body, err := get(t, base+"/v1/events/evt_1", "sk_test_123")
		if err != nil || code != http.StatusOK || !strings.Contains(body, `"evt_1"`) {
			t.Fatalf("GET /v1/events/evt_1: %d %v %.100s", code, err, body)
		}
	})
	// The subtest's cleanup stopped it.
	if _, _, err := get(t, base+"/v1/events/evt_1", "sk_test_123"); err == nil {
		t.Fatal("stripe-mock still answers after its test ended")
	}
}

func TestStripeEventsStandIn(t *testing.T) {
	t.Parallel()
	raw := `{"id":"evt_s1","object":"event","created":1700000000,"type":"charge.refunded","data":{"object":{"id":"ch_1","object":"charge"}}}`
	srv := emulator.StripeEvents(t, emulator.StripeEvent{Raw: []byte(raw)})
	cases := []struct {
		path, key string
		code      int
		contains  string
	}{
		{"/v1/events/evt_s1", "sk_test_1", http.StatusOK, `"evt_s1"`},
		{"/v1/events/evt_s1", "", http.StatusUnauthorized, "API key"},
		{"/v1/events/evt_nope", "sk_test_1", http.StatusNotFound, "resource_missing"},
		{"/v1/events?delivery_success=false", "sk_test_1", http.StatusOK, `"evt_s1"`},
		{"/v1/events?delivery_success=true", "sk_test_1", http.StatusOK, `"data":[]`},
		{"/v1/events?created%5Bgte%5D=1700000001", "sk_test_1", http.StatusOK, `"data":[]`},
		{"/v1/events?limit=0", "sk_test_1", http.StatusBadRequest, "limit"},
	}
	for _, tc := range cases {
		code, body, err := get(t, srv.URL+tc.path, tc.key)
		if err != nil || code != tc.code || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: %d %v %s; want %d containing %s", tc.path, code, err, body, tc.code, tc.contains)
		}
	}
	if n := len(srv.Requests()); n != len(cases) {
		t.Errorf("%d requests recorded, want %d", n, len(cases))
	}
}
