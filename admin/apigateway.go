package admin

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/infra/apigw"
)

// HandleAPIGateway adapts an API Gateway HTTP API (payload v2) request to the
// same handler `orderflow serve` mounts, for the AdminFunction; see
// apigw.Serve for cookies, base64 and why failures are never Lambda errors.
// A method-less event is a GET, the safe default for a console and API that
// are mostly read, and rejections carry the JSON API's error shape.
func (h *Handler) HandleAPIGateway(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return apigw.Serve(ctx, h, req, apigw.Options{
		DefaultMethod: http.MethodGet,
		WriteError:    writeAdapterError,
		Log:           h.log,
	})
}

// writeAdapterError writes {"error":{"code","message"}}; the adapter only
// rejects malformed events, hence bad_request.
func writeAdapterError(w http.ResponseWriter, status int, message string) {
	writeError(w, status, codeBadRequest, message)
}
