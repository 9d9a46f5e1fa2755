package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

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

// scheduledEventJSON is an EventBridge scheduled event, as a rule targeting
// the function directly would deliver it.
const scheduledEventJSON = `{
  "version": "0",
  "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
  "detail-type": "Scheduled Event",
  "source": "aws.events",
  "account": "123456789012",
  "time": "2024-03-01T12:00:00Z",
  "region": "us-east-1",
  "resources": ["arn:aws:events:us-east-1:123456789012:rule/orderflow-cleanup"],
  "detail": {}
}`

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

func common(e env) env {
	e["LOG_LEVEL"] = "warn"
	return e
}

func sqliteEnv(t *testing.T) env {
	return common(env{"ORDERFLOW_BACKEND": "sqlite", "ORDERFLOW_DB": filepath.Join(t.TempDir(), "orderflow.db")})
}

// awsEnv creates a table in dynalite and FIFO queues in kumo and points the
// SDK at them. The SDK reads endpoints, region and credentials from the
// process environment (backend.LoadAWS), not from the map newHandler gets, so
// they are set with t.Setenv: these tests cannot run in parallel.
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
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_ENDPOINT_URL": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL_DYNAMODB": dynamoURL, "AWS_ENDPOINT_URL_SQS": kumoURL, "AWS_ENDPOINT_URL_SECRETS_MANAGER": kumoURL,
	} {
		t.Setenv(k, v)
	}
	return common(env{"ORDERS_TABLE": table, "EVENTS_QUEUE_URL": eventsURL, "DLQ_URL": dlqURL})
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

func createOrder(t *testing.T, ctx context.Context, s domain.Store, id, pi string, edit func(*domain.Order)) {
	t.Helper()
	o := domain.Order{ID: id, UserID: "u_1", SellerID: "s_1", ProductID: "p_1", Amount: 2000, Currency: "usd", StripePaymentIntentID: pi}
	if edit != nil {
		edit(&o)
	}
	o, err := domain.NewOrder(o, time.Now())
	if err != nil {
		t.Fatalf("new order: %v", err)
	}
	if err := s.Create(ctx, o); err != nil {
		t.Fatalf("create order %s: %v", id, err)
	}
}

func TestCleanupFunction(t *testing.T) {
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
			store := inspect(t, ctx, e).Store
			failedAgo := func(d time.Duration) func(*domain.Order) {
				return func(o *domain.Order) {
					at := time.Now().Add(-d)
					o.PaymentStatus, o.PaymentFailedAt = domain.PaymentFailed, &at
				}
			}
			createOrder(t, ctx, store, "ord_stale", "pi_stale", failedAgo(2*time.Hour))
			createOrder(t, ctx, store, "ord_fresh", "pi_fresh", failedAgo(10*time.Minute))
			createOrder(t, ctx, store, "ord_waiting", "pi_waiting", nil)

			// In order: each run sees what the earlier ones left.
			steps := []struct {
				name    string
				payload string
				want    string
				wantErr string
			}{
				{"empty payload uses CLEANUP_FAILED_PAYMENT_MINUTES", "", `{"cancelled":1}`, ""},
				{"empty object", "{}", `{"cancelled":0}`, ""},
				{"null", "null", `{"cancelled":0}`, ""},
				{"scheduled event", scheduledEventJSON, `{"cancelled":0}`, ""},
				{"zero minutes", `{"minutes": 0}`, "", "minutes 0"},
				{"not an object", `[5]`, "", "JSON object"},
				{"minutes override", `{"minutes": 5}`, `{"cancelled":1}`, ""},
			}
			for _, s := range steps {
				out, err := fn.Invoke(ctx, []byte(s.payload))
				switch {
				case s.wantErr != "":
					if err == nil || !strings.Contains(err.Error(), s.wantErr) {
						t.Errorf("%s: error = %v, want one mentioning %q", s.name, err, s.wantErr)
					}
				case err != nil:
					t.Errorf("%s: invoke: %v", s.name, err)
				case strings.TrimSpace(string(out)) != s.want:
					t.Errorf("%s: answered %s, want %s", s.name, out, s.want)
				}
			}
			want := map[string]domain.Status{"ord_stale": domain.StatusCancelled, "ord_fresh": domain.StatusCancelled, "ord_waiting": domain.StatusPending}
			for id, status := range want {
				o, err := store.Get(ctx, id)
				if err != nil {
					t.Fatalf("get %s: %v", id, err)
				}
				if o.Status != status {
					t.Errorf("%s status = %s, want %s", id, o.Status, status)
				}
			}
		})
	}
}

func TestCleanupConfigurationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  env
		want []string
	}{
		{"bad values", env{"LOG_LEVEL": "loud", "CLEANUP_FAILED_PAYMENT_MINUTES": "0"}, []string{"LOG_LEVEL", "CLEANUP_FAILED_PAYMENT_MINUTES"}},
		{"not a number", env{"ORDERFLOW_BACKEND": "sqlite", "CLEANUP_FAILED_PAYMENT_MINUTES": "an hour"}, []string{"CLEANUP_FAILED_PAYMENT_MINUTES"}},
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
		})
	}
}

func TestBadConfigurationFailsInitWithOneLine(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "CLEANUP_FAILED_PAYMENT_MINUTES=-5"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("main exited with %v, want status 1; output:\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "cannot start") || !strings.Contains(lines[0], "CLEANUP_FAILED_PAYMENT_MINUTES") || strings.Contains(string(out), "goroutine") {
		t.Fatalf("init failure printed %d lines, want one naming CLEANUP_FAILED_PAYMENT_MINUTES:\n%s", len(lines), out)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil || line["level"] != "error" {
		t.Errorf("init failure line is not a JSON error log line: %s (%v)", lines[0], err)
	}
}
