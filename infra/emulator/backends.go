package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/dynamo"
	"github.com/orderflow/orderflow/infra/sqs"
)

// Backend is one configuration a Lambda function's tests run on: a subtest
// name and the function's environment (the map its getenv reads) on it.
type Backend struct {
	Name string
	Env  func(t testing.TB) map[string]string
}

// Backends returns the two configurations every Lambda handler test runs on:
// SQLite and the AWS adapters against the emulators.
func Backends() []Backend {
	return []Backend{{"sqlite", SQLiteEnv}, {"emulators", AWSEnv}}
}

// SQLiteEnv returns a Lambda function's environment for the SQLite backend,
// with its database in t's temporary directory.
func SQLiteEnv(t testing.TB) map[string]string {
	t.Helper()
	return quiet(map[string]string{
		"ORDERFLOW_BACKEND": config.BackendSQLite,
		"ORDERFLOW_DB":      filepath.Join(t.TempDir(), "orderflow.db"),
	})
}

// AWSEnv creates an orders table in Dynalite and a FIFO events queue with its
// dead-letter queue in Kumo, points the SDK at them and returns a Lambda
// function's environment naming them (no signing secret: only the ingress
// needs one). The SDK reads its endpoints, region and credentials from the
// process environment (backend.LoadAWS), not from the returned map, so they
// are set with t.Setenv: a test using AWSEnv cannot run in parallel.
func AWSEnv(t testing.TB) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dynamoURL, kumoURL := Dynalite(t), Kumo(t)
	table := TableName(t)
	if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(AWSConfig(dynamoURL)), table); err != nil {
		t.Fatalf("create table: %v", err)
	}
	// Kumo's state outlives its server within the process, so the queue names
	// must never repeat.
	name := "lambda-" + randomHex(t)
	eventsURL, dlqURL, err := sqs.CreateFIFOQueues(ctx, awssqs.NewFromConfig(AWSConfig(kumoURL)), name+".fifo", name+"-dlq.fifo", 5, 30*time.Second)
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
	return quiet(map[string]string{"ORDERS_TABLE": table, "EVENTS_QUEUE_URL": eventsURL, "DLQ_URL": dlqURL})
}

// OpenBackend opens, with every part, the backend that env configures a
// Lambda function for, so a test can look at what the function did. It is
// closed through t.Cleanup.
func OpenBackend(ctx context.Context, t testing.TB, env map[string]string) *backend.Backend {
	t.Helper()
	cfg, err := config.LoadLambda(func(k string) string { return env[k] })
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

// quiet keeps a passing test's output free of the function's info lines.
func quiet(env map[string]string) map[string]string {
	env["LOG_LEVEL"] = "warn"
	return env
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
