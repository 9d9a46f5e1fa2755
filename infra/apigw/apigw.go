// Package apigw runs an http.Handler behind API Gateway: it turns an HTTP API
// (payload v2) event into an *http.Request and the buffered reply into the
// event's response.
//
// It exists so that the ingress and admin Lambdas, which serve the same
// handlers `orderflow serve` mounts, share one translation instead of two
// copies that had drifted apart (only one carried cookies and binary replies,
// only the other logged what it rejected). What genuinely differs between them
// is an option: the method an event without a request context gets, how an
// error body is shaped, and whether rejections are logged.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/zap"
)

// Options is what differs between the functions behind API Gateway. The zero
// value works: GET, a text/plain error body, no logging.
type Options struct {
	// DefaultMethod is used when the event has no requestContext.http.method,
	// as with a hand-written test event in the Lambda console. Empty means
	// GET.
	DefaultMethod string
	// WriteError writes the reply to an event the adapter rejects before the
	// handler sees it (today always 400 Bad Request), so that it has the same
	// shape as the handler's own errors. It is written through the same
	// buffering as any reply. Nil means http.Error.
	WriteError func(w http.ResponseWriter, status int, message string)
	// Log, if set, gets a warning for each rejected event: the client only
	// sees a generic message, the cause is in the log.
	Log *zap.Logger
}

// Messages of the replies the adapter makes itself.
const (
	msgBadBase64 = "request body is marked base64-encoded but is not valid base64"
	msgMalformed = "malformed request"
)

// Serve adapts req to h and h's reply to the response API Gateway expects.
//
//   - A base64 body is decoded, so h sees exactly the bytes the client sent
//     (the ingress verifies Stripe's signature over them).
//   - Header names, which API Gateway lowercases, are canonicalised again; the
//     request's cookies list becomes one Cookie header, and Set-Cookie headers
//     go back in the response's cookies list, since payload v2 cannot carry
//     them comma-joined in headers.
//   - A reply that is not UTF-8 text is base64-encoded, because the response
//     body travels as a JSON string and would otherwise be mangled.
//
// The returned error is always nil: a failure is an HTTP response, since API
// Gateway turns a Lambda error into a bare 500 the client cannot act on.
func Serve(ctx context.Context, h http.Handler, req events.APIGatewayV2HTTPRequest, opts Options) (events.APIGatewayV2HTTPResponse, error) {
	r, err := newRequest(ctx, req, opts.DefaultMethod)
	if err != nil {
		msg := msgMalformed
		if errors.Is(err, errBadBase64) {
			msg = msgBadBase64
		}
		if opts.Log != nil {
			opts.Log.Warn("API Gateway request cannot be adapted", zap.Error(err))
		}
		return reject(http.StatusBadRequest, msg, opts.WriteError), nil
	}
	rw := newBuffer()
	h.ServeHTTP(rw, r)
	return rw.response(), nil
}

var errBadBase64 = errors.New("body is marked base64 but does not decode")

// newRequest builds the request h would get from `orderflow serve` behind a
// proxy: the path still carries the stage prefix, which the handlers strip.
func newRequest(ctx context.Context, req events.APIGatewayV2HTTPRequest, defaultMethod string) (*http.Request, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadBase64, err)
		}
		body = decoded
	}
	path := req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	method := req.RequestContext.HTTP.Method
	if method == "" {
		method = defaultMethod
	}
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(ctx, method, (&url.URL{Path: path, RawQuery: req.RawQueryString}).String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range req.Headers {
		// API Gateway lowercases names and joins repeated headers with
		// commas; Set canonicalises the name and keeps the joined value,
		// which HTTP treats as equivalent.
		r.Header.Set(k, v)
	}
	if len(req.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(req.Cookies, "; "))
	}
	// As net/http's server does: the host is r.Host, not a header.
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = req.RequestContext.DomainName
	}
	r.Header.Del("Host")
	r.ContentLength = int64(len(body))
	r.RemoteAddr = req.RequestContext.HTTP.SourceIP
	return r, nil
}

// reject renders the caller's error reply for an event h never sees.
func reject(status int, msg string, write func(http.ResponseWriter, int, string)) events.APIGatewayV2HTTPResponse {
	rw := newBuffer()
	if write == nil {
		http.Error(rw, msg, status)
	} else {
		write(rw, status, msg)
	}
	return rw.response()
}

// buffer collects what the handler writes: a Lambda returns the whole
// response at once.
type buffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

var _ http.ResponseWriter = (*buffer)(nil)

func newBuffer() *buffer { return &buffer{header: http.Header{}} }

func (b *buffer) Header() http.Header { return b.header }

// WriteHeader keeps the first status, as net/http does.
func (b *buffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *buffer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *buffer) response() events.APIGatewayV2HTTPResponse {
	// A handler may have assigned to the map with a lowercase key; merge
	// those with the canonical ones so none is lost or sent twice. Keys are
	// merged in sorted order, the order net/http writes them on the wire
	// (http.Header.Write), so the joined value never depends on map order.
	header := make(http.Header, len(b.header))
	for _, k := range slices.Sorted(maps.Keys(b.header)) {
		ck := http.CanonicalHeaderKey(k)
		header[ck] = append(header[ck], b.header[k]...)
	}
	resp := events.APIGatewayV2HTTPResponse{
		StatusCode: b.status,
		Headers:    make(map[string]string, len(header)),
		Cookies:    header.Values("Set-Cookie"),
	}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK // nothing written, as net/http
	}
	header.Del("Set-Cookie")
	for k, vs := range header {
		resp.Headers[k] = strings.Join(vs, ",")
	}
	if isText(header.Get("Content-Type"), b.body.Bytes()) {
		resp.Body = b.body.String()
	} else {
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(b.body.Bytes()), true
	}
	return resp
}

// isText reports whether body can be returned as is: it must be valid UTF-8
// (json.Marshal replaces anything else with U+FFFD) and declared as text, so
// images and downloads always go base64 even when their bytes happen to be
// UTF-8. A body without a Content-Type is judged by its bytes alone, and an
// empty one (a 204, a redirect) has nothing to encode.
func isText(contentType string, body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	if contentType == "" || len(body) == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false // base64 is always safe
	}
	if strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") {
		return true
	}
	switch mt {
	case "application/json", "application/javascript", "application/xml",
		"application/x-www-form-urlencoded", "application/x-ndjson":
		return true
	}
	return false
}
