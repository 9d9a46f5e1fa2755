package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/dynamo"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/sqs"
)

// runMainEnv makes the test binary run main() instead of the tests, so the
// init failure of the real entry point can be observed from outside.
const runMainEnv = "ORDERFLOW_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

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

func (e env) get(k string) string { return e[k] }

// backends are the two configurations every handler test runs on.
var backends = []struct {
	name string
	env  func(t *testing.T) env
}{
	{"sqlite", sqliteEnv},
	{"emulators", awsEnv},
}

func sqliteEnv(t *testing.T) env {
	return env{
		"ORDERFLOW_BACKEND":     "sqlite",
		"ORDERFLOW_DB":          filepath.Join(t.TempDir(), "orderflow.db"),
		"STRIPE_WEBHOOK_SECRET": signingSecret,
		"LOG_LEVEL":             "warn",
	}
}

// awsEnv creates a table in dynalite, FIFO queues and the signing secret in
// kumo, and points the SDK at them. The SDK reads its endpoints, region and
// credentials from the process environment (backend.LoadAWS), not from the
// map newHandler gets, so they are set with t.Setenv: these tests cannot run
// in parallel.
func awsEnv(t *testing.T) env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dynamoURL, kumoURL := emulator.Dynalite(t), emulator.Kumo(t)
	table := emulator.TableName(t)
	if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(emulator.AWSConfig(dynamoURL)), table); err != nil {
		t.Fatalf("create table: %v", err)
	}
	name := "lambda-" + unique(t)
	eventsURL, dlqURL, err := sqs.CreateFIFOQueues(ctx, awssqs.NewFromConfig(emulator.AWSConfig(kumoURL)), name+".fifo", name+"-dlq.fifo", 5, 30*time.Second)
	if err != nil {
		t.Fatalf("create queues: %v", err)
	}
	secret, err := secretsmanager.NewFromConfig(emulator.AWSConfig(kumoURL)).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("orderflow/" + name + "/stripe-webhook-secret"),
		SecretString: aws.String(`{"webhookSecrets":["` + signingSecret + `"]}`),
	})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_ENDPOINT_URL": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL_DYNAMODB": dynamoURL, "AWS_ENDPOINT_URL_SQS": kumoURL, "AWS_ENDPOINT_URL_SECRETS_MANAGER": kumoURL,
	} {
		t.Setenv(k, v)
	}
	return env{
		"ORDERS_TABLE":              table,
		"EVENTS_QUEUE_URL":          eventsURL,
		"DLQ_URL":                   dlqURL,
		"STRIPE_WEBHOOK_SECRET_ARN": aws.ToString(secret.ARN),
		"LOG_LEVEL":                 "warn",
	}
}

func unique(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// inspect opens the same backend as the function, for the test to look at.
func inspect(t *testing.T, ctx context.Context, e env) *backend.Backend {
	t.Helper()
	cfg, err := config.LoadLambda(e.get)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	be, err := backend.Open(ctx, cfg, backend.All, nil)
	if err != nil {
		t.Fatalf("open backend: %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	return be
}

func TestIngressFunction(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard only
			defer cancel()
			e := b.env(t)
			h, cleanup, err := newHandler(ctx, e.get)
			if err != nil {
				t.Fatalf("newHandler: %v", err)
			}
			t.Cleanup(func() { _ = cleanup() })
			fn := lambda.NewHandler(h)

			succeeded := fixture(t, "payment_intent.succeeded.json", b.name)
			tests := []struct {
				name     string
				method   string
				body     []byte
				secret   string
				status   int
				wantBody string
			}{
				{"signed event is enqueued", "POST", succeeded, signingSecret, 200, `{"received":true}`},
				{"wrong secret is rejected", "POST", fixture(t, "payment_intent.payment_failed.json", b.name), "whsec_someone_else", 400, `"error"`},
				{"ignored type is acknowledged", "POST", fixture(t, "customer.created.json", b.name), signingSecret, 200, `{"received":true,"ignored":true}`},
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
			q := inspect(t, ctx, e).Events
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
			evtID := "evt_" + b.name + "_pi_succeeded"
			want := map[string]string{domain.AttrEventType: domain.EventPaymentSucceeded, domain.AttrEventID: evtID, domain.AttrSource: domain.SourceWebhook}
			if string(m.Body) != string(succeeded) || m.GroupID != "pi_"+b.name || m.DedupID != evtID {
				t.Errorf("message group/dedup = %s/%s (body equal: %v), want pi_%s/%s and the signed bytes", m.GroupID, m.DedupID, string(m.Body) == string(succeeded), b.name, evtID)
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
	tests := []struct {
		name string
		env  env
		want []string
	}{
		{"nothing set defaults to aws", env{}, []string{"STRIPE_WEBHOOK_SECRET_ARN", "EVENTS_QUEUE_URL"}},
		{"bad values", env{"ORDERFLOW_BACKEND": "sqlite", "LOG_LEVEL": "loud", "STRIPE_WEBHOOK_SECRET": "not-a-secret"}, []string{"LOG_LEVEL", "STRIPE_WEBHOOK_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := newHandler(context.Background(), tt.env.get)
			if err == nil {
				t.Fatal("newHandler succeeded, want a configuration error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if strings.Contains(err.Error(), "not-a-secret") {
				t.Errorf("error %q shows a secret value", err)
			}
		})
	}
}

func TestBadConfigurationFailsInitWithOneLine(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "LOG_LEVEL=loud"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("main exited with %v, want status 1; output:\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "cannot start") || !strings.Contains(lines[0], "LOG_LEVEL") || strings.Contains(string(out), "goroutine") {
		t.Fatalf("init failure printed %d lines, want one naming LOG_LEVEL:\n%s", len(lines), out)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil || line["level"] != "error" {
		t.Errorf("init failure line is not a JSON error log line: %s (%v)", lines[0], err)
	}
}
