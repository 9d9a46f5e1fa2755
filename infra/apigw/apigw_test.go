package apigw_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/orderflow/orderflow/infra/apigw"
)

// seen is what the handler under the adapter received.
type seen struct {
	called      bool
	method      string
	uri         string
	host        string
	remoteAddr  string
	header      http.Header
	body        []byte
	contentLen  int64
	cookieNames []string
}

// recorder records the request and answers with reply.
func recorder(s *seen, reply func(w http.ResponseWriter)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		*s = seen{called: true, method: r.Method, uri: r.URL.RequestURI(), host: r.Host, remoteAddr: r.RemoteAddr,
			header: r.Header, body: body, contentLen: r.ContentLength}
		for _, c := range r.Cookies() {
			s.cookieNames = append(s.cookieNames, c.Name+"="+c.Value)
		}
		if reply != nil {
			reply(w)
		}
	})
}

// event is a payload v2 request as API Gateway sends it: lowercased header
// names, a stage-prefixed path.
func event(method string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/prod/things", RawQueryString: "a=1&b=two",
		Headers: map[string]string{"host": "abc.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https"},
	}
	req.RequestContext.Stage = "prod"
	req.RequestContext.DomainName = "abc.execute-api.us-east-1.amazonaws.com"
	req.RequestContext.HTTP.Method = method
	req.RequestContext.HTTP.Path = "/prod/things"
	req.RequestContext.HTTP.SourceIP = "3.18.12.63"
	return req
}

// The two error shapes the callers use.
func nestedError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "bad_request", "message": msg}})
}

func flatError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")

func TestServe(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		req   func() events.APIGatewayV2HTTPRequest
		opts  apigw.Options
		reply func(w http.ResponseWriter)
		check func(t *testing.T, s seen, resp events.APIGatewayV2HTTPResponse)
	}{
		{
			name: "request line, host and source",
			req:  func() events.APIGatewayV2HTTPRequest { return event(http.MethodDelete) },
			check: func(t *testing.T, s seen, resp events.APIGatewayV2HTTPResponse) {
				if s.method != http.MethodDelete || s.uri != "/prod/things?a=1&b=two" || s.remoteAddr != "3.18.12.63" {
					t.Errorf("request = %s %s from %s", s.method, s.uri, s.remoteAddr)
				}
				if s.host != "abc.execute-api.us-east-1.amazonaws.com" || s.header.Get("Host") != "" {
					t.Errorf("Host = %q, header %q; want it in r.Host only, as net/http", s.host, s.header.Get("Host"))
				}
				if resp.StatusCode != http.StatusOK || resp.Body != "" || resp.IsBase64Encoded {
					t.Errorf("nothing written: %d %q base64 %v, want an empty 200", resp.StatusCode, resp.Body, resp.IsBase64Encoded)
				}
			},
		},
		{
			name: "path from the request context without rawPath",
			req: func() events.APIGatewayV2HTTPRequest {
				req := event(http.MethodGet)
				req.RawPath, req.RawQueryString = "", ""
				return req
			},
			check: func(t *testing.T, s seen, _ events.APIGatewayV2HTTPResponse) {
				if s.uri != "/prod/things" {
					t.Errorf("URI = %q", s.uri)
				}
			},
		},
		{
			name: "missing method defaults to the caller's",
			req:  func() events.APIGatewayV2HTTPRequest { return event("") },
			opts: apigw.Options{DefaultMethod: http.MethodPost},
			check: func(t *testing.T, s seen, _ events.APIGatewayV2HTTPResponse) {
				if s.method != http.MethodPost {
					t.Errorf("method = %q, want POST", s.method)
				}
			},
		},
		{
			name: "missing method without a default is GET",
			req:  func() events.APIGatewayV2HTTPRequest { return event("") },
			check: func(t *testing.T, s seen, _ events.APIGatewayV2HTTPResponse) {
				if s.method != http.MethodGet {
					t.Errorf("method = %q, want GET", s.method)
				}
			},
		},
		{
			name: "cookies in",
			req: func() events.APIGatewayV2HTTPRequest {
				req := event(http.MethodGet)
				req.Cookies = []string{"csrf=abc", "orderflow_session=s.1"}
				return req
			},
			check: func(t *testing.T, s seen, _ events.APIGatewayV2HTTPResponse) {
				if got := s.header.Values("Cookie"); len(got) != 1 || got[0] != "csrf=abc; orderflow_session=s.1" {
					t.Errorf("Cookie = %q", got)
				}
				if want := []string{"csrf=abc", "orderflow_session=s.1"}; !reflect.DeepEqual(s.cookieNames, want) {
					t.Errorf("r.Cookies() = %v, want %v", s.cookieNames, want)
				}
			},
		},
		{
			name: "cookies out",
			req:  func() events.APIGatewayV2HTTPRequest { return event(http.MethodPost) },
			reply: func(w http.ResponseWriter) {
				http.SetCookie(w, &http.Cookie{Name: "csrf", Value: "abc", Path: "/prod/console/", HttpOnly: true})
				http.SetCookie(w, &http.Cookie{Name: "orderflow_session", Value: "s.1", Secure: true})
				w.Header().Set("Location", "/prod/console/queue")
				w.WriteHeader(http.StatusSeeOther)
			},
			check: func(t *testing.T, _ seen, resp events.APIGatewayV2HTTPResponse) {
				want := []string{"csrf=abc; Path=/prod/console/; HttpOnly", "orderflow_session=s.1; Secure"}
				if !reflect.DeepEqual(resp.Cookies, want) {
					t.Errorf("cookies = %q, want %q", resp.Cookies, want)
				}
				if _, ok := resp.Headers["Set-Cookie"]; ok {
					t.Errorf("Set-Cookie also in headers: %v", resp.Headers)
				}
				if resp.StatusCode != http.StatusSeeOther || resp.Headers["Location"] != "/prod/console/queue" {
					t.Errorf("reply = %d %v", resp.StatusCode, resp.Headers)
				}
			},
		},
		{
			name: "base64 body in, raw bytes exact",
			req: func() events.APIGatewayV2HTTPRequest {
				req := event(http.MethodPost)
				req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(append([]byte(`{"id":"evt_1","note":"caf\xc3\xa9"}`), 0xff, 0x00, '\r', '\n')), true
				return req
			},
			check: func(t *testing.T, s seen, _ events.APIGatewayV2HTTPResponse) {
				want := append([]byte(`{"id":"evt_1","note":"caf\xc3\xa9"}`), 0xff, 0x00, '\r', '\n')
				if string(s.body) != string(want) || s.contentLen != int64(len(want)) {
					t.Errorf("body = %q (length %d), want %q", s.body, s.contentLen, want)
				}
			},
		},
		{
			name: "plain body in",
			req: func() events.APIGatewayV2HTTPRequest {
				req := event(http.MethodPost)
				req.Body = "csrf=abc&token=t"
				return req
			},
			check: func(t *testing.T, s seen, _ events.APIGatewayV2HTTPResponse) {
				if string(s.body) != "csrf=abc&token=t" || s.contentLen != 16 {
					t.Errorf("body = %q (length %d)", s.body, s.contentLen)
				}
			},
		},
		{
			name: "bad base64 is a 400 in the nested shape",
			req: func() events.APIGatewayV2HTTPRequest {
				req := event(http.MethodPost)
				req.Body, req.IsBase64Encoded = "%%%not base64", true
				return req
			},
			opts: apigw.Options{WriteError: nestedError},
			check: func(t *testing.T, s seen, resp events.APIGatewayV2HTTPResponse) {
				want := `{"error":{"code":"bad_request","message":"request body is marked base64-encoded but is not valid base64"}}` + "\n"
				if s.called || resp.StatusCode != http.StatusBadRequest || resp.Body != want || resp.Headers["Content-Type"] != "application/json" {
					t.Errorf("handler called %v; reply %d %v %q, want 400 %q", s.called, resp.StatusCode, resp.Headers, resp.Body, want)
				}
			},
		},
		{
			name: "bad base64 is a 400 in the flat shape",
			req: func() events.APIGatewayV2HTTPRequest {
				req := event(http.MethodPost)
				req.Body, req.IsBase64Encoded = "eyJ", true
				return req
			},
			opts: apigw.Options{WriteError: flatError},
			check: func(t *testing.T, s seen, resp events.APIGatewayV2HTTPResponse) {
				want := `{"error":"request body is marked base64-encoded but is not valid base64"}` + "\n"
				if s.called || resp.StatusCode != http.StatusBadRequest || resp.Body != want || resp.Headers["Content-Type"] != "application/json" {
					t.Errorf("handler called %v; reply %d %v %q, want 400 %q", s.called, resp.StatusCode, resp.Headers, resp.Body, want)
				}
			},
		},
		{
			name: "bad base64 without an error writer is plain text",
			req: func() events.APIGatewayV2HTTPRequest {
				req := event(http.MethodPost)
				req.Body, req.IsBase64Encoded = "!", true
				return req
			},
			check: func(t *testing.T, s seen, resp events.APIGatewayV2HTTPResponse) {
				if s.called || resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Headers["Content-Type"], "text/plain") ||
					!strings.Contains(resp.Body, "not valid base64") {
					t.Errorf("handler called %v; reply %d %v %q", s.called, resp.StatusCode, resp.Headers, resp.Body)
				}
			},
		},
		{
			name: "unusable method is a 400, not a Lambda error",
			req:  func() events.APIGatewayV2HTTPRequest { return event("GET /x") },
			opts: apigw.Options{WriteError: flatError},
			check: func(t *testing.T, s seen, resp events.APIGatewayV2HTTPResponse) {
				if s.called || resp.StatusCode != http.StatusBadRequest || resp.Body != `{"error":"malformed request"}`+"\n" {
					t.Errorf("handler called %v; reply %d %q", s.called, resp.StatusCode, resp.Body)
				}
			},
		},
		{
			name: "multi-value headers both ways, names canonical",
			req: func() events.APIGatewayV2HTTPRequest {
				req := event(http.MethodGet)
				// API Gateway joins a repeated header with commas.
				req.Headers["accept"] = "text/html, application/json;q=0.9"
				req.Headers["x-forwarded-for"] = "198.51.100.7, 3.18.12.63"
				return req
			},
			reply: func(w http.ResponseWriter) {
				w.Header().Add("Vary", "Origin")
				w.Header().Add("Vary", "Accept-Encoding")
				w.Header()["x-request-id"] = []string{"req_1"} // not canonical
				w.Header()["cache-control"] = []string{"no-store"}
				w.Header().Add("Cache-Control", "private")
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = io.WriteString(w, "ok")
			},
			check: func(t *testing.T, s seen, resp events.APIGatewayV2HTTPResponse) {
				if got := s.header["Accept"]; len(got) != 1 || got[0] != "text/html, application/json;q=0.9" {
					t.Errorf("request Accept = %q", got)
				}
				if got := s.header.Get("X-Forwarded-For"); got != "198.51.100.7, 3.18.12.63" {
					t.Errorf("request X-Forwarded-For = %q", got)
				}
				if got := s.header.Get("X-Forwarded-Proto"); got != "https" {
					t.Errorf("request X-Forwarded-Proto = %q", got)
				}
				want := map[string]string{"Vary": "Origin,Accept-Encoding", "X-Request-Id": "req_1", "Cache-Control": "private,no-store", // net/http's wire order: "Cache-Control" sorts before "cache-control"
					"Content-Type": "text/plain; charset=utf-8"}
				if !reflect.DeepEqual(resp.Headers, want) {
					t.Errorf("response headers = %v, want %v", resp.Headers, want)
				}
				if resp.Body != "ok" || resp.IsBase64Encoded {
					t.Errorf("body = %q base64 %v", resp.Body, resp.IsBase64Encoded)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s seen
			resp, err := apigw.Serve(context.Background(), recorder(&s, tc.reply), tc.req(), tc.opts)
			if err != nil {
				t.Fatalf("Serve returned a Lambda error: %v", err)
			}
			tc.check(t, s, resp)
		})
	}
}

// TestResponseBodies covers which replies go base64: anything that is not
// UTF-8 text would be mangled as a JSON string.
func TestResponseBodies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		contentType string
		body        []byte
		wantBase64  bool
	}{
		{"PNG", "image/png", png, true},
		{"image bytes that are valid UTF-8", "image/x-icon", []byte("GIF89a"), true},
		{"download", "application/octet-stream", []byte{0x00, 0x01, 0xff}, true},
		{"text with invalid UTF-8", "text/plain; charset=iso-8859-1", []byte("caf\xe9"), true},
		{"no content type, binary", "", []byte{0xff, 0xd8, 0xff}, true},
		{"unparsable content type", "bogus/", []byte("x"), true},
		{"JSON", "application/json", []byte(`{"received":true}` + "\n"), false},
		{"problem JSON", "application/problem+json", []byte(`{"title":"x"}`), false},
		{"HTML", "text/html; charset=utf-8", []byte("<p>café</p>"), false},
		{"CSS", "text/css; charset=utf-8", []byte("body{}"), false},
		{"SVG", "image/svg+xml", []byte("<svg/>"), false},
		{"JavaScript", "application/javascript", []byte("1"), false},
		{"no content type, text", "", []byte("ok"), false},
		{"empty", "image/png", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(tc.body)
			})
			resp, err := apigw.Serve(context.Background(), h, event(http.MethodGet), apigw.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if resp.IsBase64Encoded != tc.wantBase64 {
				t.Fatalf("base64 = %v, want %v", resp.IsBase64Encoded, tc.wantBase64)
			}
			got := []byte(resp.Body)
			if resp.IsBase64Encoded {
				if got, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
					t.Fatalf("body is not base64: %v", err)
				}
			}
			if string(got) != string(tc.body) {
				t.Errorf("body = %q, want %q", got, tc.body)
			}
			// What the runtime sends back must still carry the bytes.
			raw, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var back events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(raw, &back); err != nil || back.Body != resp.Body {
				t.Errorf("body does not survive the JSON round trip: %q → %q (%v)", resp.Body, back.Body, err)
			}
		})
	}
}

func TestRejectionsAreLogged(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	req := event(http.MethodPost)
	req.Body, req.IsBase64Encoded = "%%%", true
	resp, err := apigw.Serve(context.Background(), http.NotFoundHandler(), req, apigw.Options{Log: zap.New(core), WriteError: flatError})
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("reply %d, err %v", resp.StatusCode, err)
	}
	entries := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(entries) != 1 || !strings.Contains(entries[0].ContextMap()["error"].(string), "base64") {
		t.Fatalf("warnings = %v, want one naming the base64 failure", entries)
	}
	// A handled request is the handler's to log, not the adapter's.
	if _, err := apigw.Serve(context.Background(), http.NotFoundHandler(), event(http.MethodGet), apigw.Options{Log: zap.New(core)}); err != nil {
		t.Fatal(err)
	}
	if n := logs.Len(); n != 1 {
		t.Errorf("%d log entries after a handled request, want still 1", n)
	}
}
