package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// HandleAPIGateway adapts an API Gateway HTTP API (payload v2) request to the
// same handler `orderflow serve` mounts, for the AdminFunction: cookies come
// in the request's cookies list and Set-Cookie headers go out in the
// response's, as payload v2 carries them. Failures are HTTP responses, never
// a Lambda error, so API Gateway does not turn them into 500s.
func (h *Handler) HandleAPIGateway(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return jsonResponse(http.StatusBadRequest, `{"error":{"code":"bad_request","message":"request body is marked base64-encoded but is not valid base64"}}`), nil
		}
		body = decoded
	}
	path := req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	method := req.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(ctx, method, (&url.URL{Path: path, RawQuery: req.RawQueryString}).String(), bytes.NewReader(body))
	if err != nil {
		return jsonResponse(http.StatusBadRequest, `{"error":{"code":"bad_request","message":"malformed request"}}`), nil
	}
	for k, v := range req.Headers {
		r.Header.Set(k, v)
	}
	if len(req.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(req.Cookies, "; "))
	}
	r.ContentLength = int64(len(body))
	r.RemoteAddr = req.RequestContext.HTTP.SourceIP
	rw := &lambdaResponse{header: http.Header{}}
	h.ServeHTTP(rw, r)
	resp := events.APIGatewayV2HTTPResponse{StatusCode: rw.status, Headers: map[string]string{}, Cookies: rw.header.Values("Set-Cookie")}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	rw.header.Del("Set-Cookie")
	for k, vs := range rw.header {
		resp.Headers[k] = strings.Join(vs, ",")
	}
	if strings.HasPrefix(rw.header.Get("Content-Type"), "image/") {
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(rw.body.Bytes()), true
	} else {
		resp.Body = rw.body.String()
	}
	return resp, nil
}

func jsonResponse(status int, body string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: body + "\n"}
}

// lambdaResponse collects what the handler writes for the Lambda response.
type lambdaResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *lambdaResponse) Header() http.Header { return b.header }

func (b *lambdaResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *lambdaResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
