package ingress

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/infra/apigw"
)

// HandleAPIGateway adapts an API Gateway HTTP API (payload v2) request to the
// same handler; apigw.Serve decodes a base64 body so the raw bytes Stripe
// signed are verified, and answers failures as HTTP responses, never Lambda
// errors. A method-less event (a test invoke without requestContext) is a
// POST, the only method the webhook takes, and rejections are {"error": msg}
// like every other ingress error.
func (h *Handler) HandleAPIGateway(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return apigw.Serve(ctx, h, req, apigw.Options{
		DefaultMethod: http.MethodPost,
		WriteError:    writeError,
		Log:           h.log,
	})
}
