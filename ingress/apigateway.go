package ingress

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/zap"
)

// HandleAPIGateway adapts an API Gateway HTTP API (payload v2) request to the
// same handler: base64 bodies are decoded so the raw bytes Stripe signed are
// verified, and headers are matched case-insensitively. Failures are HTTP
// responses, never a Lambda error, so API Gateway does not turn them into 500s.
func (h *Handler) HandleAPIGateway(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			h.log.Warn("API Gateway body is marked base64 but does not decode", zap.Error(err))
			return apiResponse(http.StatusBadRequest, `{"error":"request body is marked base64-encoded but is not valid base64"}`), nil
		}
		body = decoded
	}
	path := req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	method := req.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodPost // a test invoke without requestContext
	}
	r, err := http.NewRequestWithContext(ctx, method, (&url.URL{Path: path, RawQuery: req.RawQueryString}).String(), bytes.NewReader(body))
	if err != nil {
		h.log.Warn("API Gateway request cannot be adapted", zap.Error(err))
		return apiResponse(http.StatusBadRequest, `{"error":"malformed request"}`), nil
	}
	for k, v := range req.Headers {
		// API Gateway lowercases names; Set canonicalizes them again.
		r.Header.Set(k, v)
	}
	r.ContentLength = int64(len(body))
	r.RemoteAddr = req.RequestContext.HTTP.SourceIP

	rw := &bufferedResponse{header: http.Header{}}
	h.ServeHTTP(rw, r)
	resp := events.APIGatewayV2HTTPResponse{
		StatusCode: rw.status,
		Headers:    make(map[string]string, len(rw.header)),
		Body:       rw.body.String(),
	}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	for k, vs := range rw.header {
		resp.Headers[k] = strings.Join(vs, ",")
	}
	return resp, nil
}

func apiResponse(status int, body string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       body + "\n",
	}
}

// bufferedResponse collects what the handler writes for the Lambda response.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
