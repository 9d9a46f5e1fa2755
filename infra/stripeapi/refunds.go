package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	stripe "github.com/stripe/stripe-go/v76"

	"github.com/orderflow/orderflow/domain"
)

// RefundReasons are the reasons Stripe accepts on a refund an operator
// starts (SPEC §14); "" sends none.
var RefundReasons = []string{"requested_by_customer", "duplicate", "fraudulent"}

// ValidRefundReason reports whether reason may be sent to Stripe.
func ValidRefundReason(reason string) bool {
	if reason == "" {
		return true
	}
	for _, r := range RefundReasons {
		if r == reason {
			return true
		}
	}
	return false
}

// RefundParams is a full refund of one payment intent (SPEC §14).
type RefundParams struct {
	PaymentIntentID string
	// Reason is one of RefundReasons, or "" for none.
	Reason string
	// OrderID and ActorID go into the refund's metadata: orderId lets its
	// webhooks find the order (playbook §11), actorId says who asked.
	OrderID string
	ActorID string
	// IdempotencyKey is sent as Stripe's Idempotency-Key, so a retry of the
	// same request returns the same refund instead of a second one.
	IdempotencyKey string
}

// Refund is what Stripe answered.
type Refund struct {
	ID              string
	Amount          int64
	Currency        string
	Status          string
	Reason          string
	PaymentIntentID string
}

// RefusedError is Stripe refusing a request (a 4xx other than a bad key or
// throttling): retrying the same request cannot help. Type is Stripe's error
// type (e.g. idempotency_error, invalid_request_error), Code its error code
// (e.g. charge_already_refunded).
type RefusedError struct {
	Op     string
	Status int
	Type   string
	Code   string
	Msg    string
}

// IdempotencyConflict reports whether Stripe refused because the request's
// Idempotency-Key was used before with other parameters.
func (e *RefusedError) IdempotencyConflict() bool {
	return e.Type == string(stripe.ErrorTypeIdempotency)
}

// Error is one line: the operation, Stripe's code and message, the status.
func (e *RefusedError) Error() string {
	code := e.Code
	if code == "" {
		code = e.Type
	}
	if code == "" {
		code = "refused"
	}
	return fmt.Sprintf("stripe refused to %s: %s: %s (HTTP %d)", e.Op, code, e.Msg, e.Status)
}

// Unwrap lets callers branch with errors.Is: an already refunded charge is
// domain.ErrAlreadyRefunded (API 409), any other refusal domain.ErrInvalid.
func (e *RefusedError) Unwrap() error {
	if e.Code == string(stripe.ErrorCodeChargeAlreadyRefunded) {
		return domain.ErrAlreadyRefunded
	}
	return domain.ErrInvalid
}

// CreateRefund creates a full refund of p.PaymentIntentID with p's reason,
// metadata and idempotency key. Stripe's refusals come back as *RefusedError
// in one line; other failures (network, 5xx, 429, a bad key) as plain errors
// worth retrying with the same key.
func (c *Client) CreateRefund(ctx context.Context, p RefundParams) (Refund, error) {
	var problems []string
	if !strings.HasPrefix(p.PaymentIntentID, "pi_") {
		problems = append(problems, fmt.Sprintf("payment intent %q is not a pi_… id", p.PaymentIntentID))
	}
	if !ValidRefundReason(p.Reason) {
		problems = append(problems, fmt.Sprintf("reason %q: want one of %s", p.Reason, strings.Join(RefundReasons, ", ")))
	}
	if p.OrderID == "" {
		problems = append(problems, "no orderId for the metadata")
	}
	if p.IdempotencyKey == "" {
		problems = append(problems, "no idempotency key")
	}
	if len(problems) > 0 {
		return Refund{}, fmt.Errorf("%w: stripe refund: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	sc, key, err := c.api(ctx)
	if err != nil {
		return Refund{}, err
	}
	params := &stripe.RefundParams{PaymentIntent: stripe.String(p.PaymentIntentID)}
	if p.Reason != "" {
		params.Reason = stripe.String(p.Reason)
	}
	params.AddMetadata("orderId", p.OrderID)
	if p.ActorID != "" {
		params.AddMetadata("actorId", p.ActorID)
	}
	params.Context = ctx
	params.IdempotencyKey = stripe.String(p.IdempotencyKey)
	r, err := sc.Refunds.New(params)
	if err != nil {
		return Refund{}, refusal("refund "+p.PaymentIntentID, key, err)
	}
	out := Refund{ID: r.ID, Amount: r.Amount, Currency: string(r.Currency), Status: string(r.Status), Reason: string(r.Reason)}
	if r.PaymentIntent != nil {
		out.PaymentIntentID = r.PaymentIntent.ID
	}
	if out.ID == "" {
		return Refund{}, fmt.Errorf("stripe: refund %s: the answer has no refund id", p.PaymentIntentID)
	}
	return out, nil
}

// WebhookEndpoint is one webhook endpoint registered in the Stripe account.
type WebhookEndpoint struct {
	ID            string   `json:"id"`
	URL           string   `json:"url"`
	Status        string   `json:"status"`
	EnabledEvents []string `json:"enabledEvents"`
}

// ListWebhookEndpoints returns every webhook endpoint of the account,
// following every page.
func (c *Client) ListWebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	sc, key, err := c.api(ctx)
	if err != nil {
		return nil, err
	}
	params := &stripe.WebhookEndpointListParams{}
	params.Context = ctx
	params.Limit = stripe.Int64(listPageSize)
	it := sc.WebhookEndpoints.List(params)
	var out []WebhookEndpoint
	for it.Next() {
		w := it.WebhookEndpoint()
		out = append(out, WebhookEndpoint{ID: w.ID, URL: w.URL, Status: w.Status, EnabledEvents: w.EnabledEvents})
	}
	if err := it.Err(); err != nil {
		return nil, apiError("list webhook endpoints", "", key, err)
	}
	return out, nil
}

// CheckKey makes the cheapest authenticated call (GET /v1/balance) and
// reports whether Stripe accepts the key, never naming it.
func (c *Client) CheckKey(ctx context.Context) error {
	sc, key, err := c.api(ctx)
	if err != nil {
		return err
	}
	params := &stripe.BalanceParams{}
	params.Context = ctx
	if _, err := sc.Balance.Get(params); err != nil {
		return apiError("get balance", "", key, err)
	}
	return nil
}

// refusal is apiError that turns Stripe's refusals into *RefusedError.
func refusal(op, key string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return apiError(op, "", key, err)
	}
	switch s := se.HTTPStatusCode; {
	case s >= 400 && s < 500 && s != http.StatusUnauthorized && s != http.StatusForbidden && s != http.StatusTooManyRequests:
		msg := se.Msg
		if msg == "" {
			msg = string(se.Type)
		}
		return &RefusedError{Op: op, Status: s, Type: string(se.Type), Code: string(se.Code), Msg: redact(oneLine(msg), key)}
	}
	return apiError(op, "", key, err)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
