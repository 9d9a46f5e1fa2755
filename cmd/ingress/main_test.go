package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/lambdaenv/lambdaenvtest"
)

func TestMain(m *testing.M) { lambdaenvtest.Main(m, main) }

// apiGatewayRequestJSON is an HTTP API (payload v2) request exactly as API
// Gateway delivers it to the function: a stage-prefixed rawPath, lowercased
// header names and the body base64-encoded.
const apiGatewayRequestJSON = `{
  "version": "2.0",
  "routeKey": "POST /webhooks/stripe",
  "rawPath": %q,
  "rawQueryString": "",
  "headers": {
    "accept": "*/*; q=0.5, application/xml",
    "cache-control": "no-cache",
    "content-length": "%d",
    "content-type": "application/json; charset=utf-8",
    "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "stripe-signature": %q,
    "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    "x-amzn-trace-id": "Root=1-65e1c2d0-0123456789abcdef01234567",
    "x-forwarded-for": "3.18.12.63",
    "x-forwarded-port": "443",
    "x-forwarded-proto": "https"
  },
  "requestContext": {
    "accountId": "123456789012",
    "apiId": "a1b2c3d4e5",
    "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "domainPrefix": "a1b2c3d4e5",
    "http": {
      "method": %q,
      "path": %q,
      "protocol": "HTTP/1.1",
      "sourceIp": "3.18.12.63",
      "userAgent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
    },
    "requestId": "UeZ0vjd5IAMEVJQ=",
    "routeKey": "POST /webhooks/stripe",
    "stage": "prod",
    "time": "01/Mar/2024:12:00:00 +0000",
    "timeEpoch": 1709294400000
  },
  "body": %q,
  "isBase64Encoded": true
}`

const (
	signingSecret = "whsec_lambda_ingress_test_secret"
	stagePath     = "/prod/webhooks/stripe"
)

// fixture reads a Stripe event fixture and makes its ids unique to tag.
func fixture(t *testing.T, file, tag string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(emulator.RepoRoot(t), "testdata", "events", file))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return []byte(strings.NewReplacer(
		"evt_fixture", "evt_"+tag, "ord_fixture", "ord_"+tag, "pi_fixture", "pi_"+tag, "ch_fixture", "ch_"+tag,
	).Replace(string(raw)))
}

// apiRequest renders the API Gateway event for body signed with secret and
// decodes it into the aws-lambda-go type, as the runtime does.
func apiRequest(t *testing.T, method string, body []byte, secret string) []byte {
	t.Helper()
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now()}).Header
	raw := fmt.Sprintf(apiGatewayRequestJSON, stagePath, len(body), sig, method, stagePath, base64.StdEncoding.EncodeToString(body))
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		t.Fatalf("API Gateway event JSON: %v", err)
	}
	return []byte(raw)
}

// env is a function's environment for one backend.
type env map[string]string

// withSigningSecret adds the webhook signing secret to a backend's
// environment: the value itself on SQLite, on AWS the ARN of a secret created
// in kumo, which AWSEnv has already pointed the SDK at.
func withSigningSecret(t *testing.T, e env) env {
	t.Helper()
	if e["ORDERFLOW_BACKEND"] == config.BackendSQLite {
		e["STRIPE_WEBHOOK_SECRET"] = signingSecret
		return e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// TableName is unique within the process, as kumo's state is.
	secret, err := secretsmanager.NewFromConfig(emulator.AWSConfig(emulator.Kumo(t))).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("orderflow/" + emulator.TableName(t) + "/stripe-webhook-secret"),
		SecretString: aws.String(`{"webhookSecrets":["` + signingSecret + `"]}`),
	})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	e["STRIPE_WEBHOOK_SECRET_ARN"] = aws.ToString(secret.ARN)
	return e
}

func TestIngressFunction(t *testing.T) {
	for _, b := range emulator.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard only
			defer cancel()
			e := withSigningSecret(t, b.Env(t))
			fn := lambdaenvtest.Handler(ctx, t, newHandler, e)

			succeeded := fixture(t, "payment_intent.succeeded.json", b.Name)
			tests := []struct {
				name     string
				method   string
				body     []byte
				secret   string
				status   int
				wantBody string
			}{
				{"signed event is enqueued", "POST", succeeded, signingSecret, 200, `{"received":true}`},
				{"wrong secret is rejected", "POST", fixture(t, "payment_intent.payment_failed.json", b.Name), "whsec_someone_else", 400, `"error"`},
				{"ignored type is acknowledged", "POST", fixture(t, "customer.created.json", b.Name), signingSecret, 200, `{"received":true,"ignored":true}`},
				{"other method", "GET", succeeded, signingSecret, 405, `"error"`},
			}
			for _, tt := range tests {
				out, err := fn.Invoke(ctx, apiRequest(t, tt.method, tt.body, tt.secret))
				if err != nil {
					t.Fatalf("%s: invoke: %v", tt.name, err)
				}
				var resp events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatalf("%s: response %s: %v", tt.name, out, err)
				}
				if resp.StatusCode != tt.status || !strings.Contains(resp.Body, tt.wantBody) {
					t.Errorf("%s: response %d %s, want %d with %s", tt.name, resp.StatusCode, resp.Body, tt.status, tt.wantBody)
				}
				if tt.status == 405 && resp.Headers["Allow"] != "POST" {
					t.Errorf("%s: Allow = %q, want POST", tt.name, resp.Headers["Allow"])
				}
			}

			// Exactly the signed, accepted event is on the queue, as the
			// ingress routes it.
			q := emulator.OpenBackend(ctx, t, e).Events
			msgs, err := q.Receive(ctx, 10, 2*time.Second)
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			more, err := q.Receive(ctx, 10, 0)
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			if len(msgs)+len(more) != 1 {
				t.Fatalf("events queue holds %d+%d messages, want 1", len(msgs), len(more))
			}
			m := msgs[0]
			evtID := "evt_" + b.Name + "_pi_succeeded"
			want := map[string]string{domain.AttrEventType: domain.EventPaymentSucceeded, domain.AttrEventID: evtID, domain.AttrSource: domain.SourceWebhook}
			if string(m.Body) != string(succeeded) || m.GroupID != "pi_"+b.Name || m.DedupID != evtID {
				t.Errorf("message group/dedup = %s/%s (body equal: %v), want pi_%s/%s and the signed bytes", m.GroupID, m.DedupID, string(m.Body) == string(succeeded), b.Name, evtID)
			}
			for k, v := range want {
				if m.Attributes[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, m.Attributes[k], v)
				}
			}
		})
	}
}

func TestIngressConfigurationErrors(t *testing.T) {
	t.Parallel()
	lambdaenvtest.RefusesBadConfig(t, newHandler, []lambdaenvtest.BadConfig{
		{Name: "nothing set defaults to aws", Env: env{}, Want: []string{"STRIPE_WEBHOOK_SECRET_ARN", "EVENTS_QUEUE_URL"}},
		{Name: "bad values", Env: env{"ORDERFLOW_BACKEND": "sqlite", "LOG_LEVEL": "loud", "STRIPE_WEBHOOK_SECRET": "not-a-secret"}, Want: []string{"LOG_LEVEL", "STRIPE_WEBHOOK_SECRET"}, Secrets: []string{"not-a-secret"}},
	})
}

func TestBadConfigurationFailsInitWithOneLine(t *testing.T) {
	t.Parallel()
	lambdaenvtest.InitFails(t, []string{"LOG_LEVEL=loud"}, "LOG_LEVEL")
}
