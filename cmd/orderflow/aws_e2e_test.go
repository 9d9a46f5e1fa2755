package main_test

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/orderflow/orderflow/infra/emulator"
)

// newAWSHarness points orderflow at dynalite (DynamoDB) and kumo (SQS,
// Secrets Manager) through the SDK's standard endpoint variables, runs
// `orderflow aws bootstrap`, and returns a harness on ORDERFLOW_BACKEND=aws.
func newAWSHarness(t *testing.T, extra ...string) *harness {
	t.Helper()
	dynamoURL := emulator.Dynalite(t)
	kumoURL := emulator.Kumo(t)
	table := emulator.TableName(t)
	suffix := strings.TrimPrefix(strings.ToLower(table), "orders-")
	env := []string{
		"ORDERFLOW_BACKEND=aws",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL_DYNAMODB=" + dynamoURL,
		"AWS_ENDPOINT_URL_SQS=" + kumoURL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + kumoURL,
		"ORDERS_TABLE=" + table,
		"EVENTS_QUEUE_NAME=of-events-" + suffix + ".fifo",
		"DLQ_NAME=of-dlq-" + suffix + ".fifo",
	}
	h := newHarness(t, append(env, extra...)...)
	h.backend = "aws"
	out := h.mustCLI("", "aws", "bootstrap")
	var res struct{ Table, EventsQueueURL, DLQURL string }
	if err := json.Unmarshal([]byte(out), &struct {
		Table          *string `json:"table"`
		EventsQueueURL *string `json:"eventsQueueUrl"`
		DLQURL         *string `json:"dlqUrl"`
	}{&res.Table, &res.EventsQueueURL, &res.DLQURL}); err != nil {
		t.Fatalf("aws bootstrap printed %q: %v", out, err)
	}
	if res.Table != table || res.EventsQueueURL == "" || res.DLQURL == "" {
		t.Fatalf("aws bootstrap printed %q", out)
	}
	// Running it again changes nothing and still answers.
	if again := h.mustCLI("", "aws", "bootstrap"); again != out {
		t.Fatalf("second bootstrap printed %q, first %q", again, out)
	}
	h.env = append(h.env, "EVENTS_QUEUE_URL="+res.EventsQueueURL, "DLQ_URL="+res.DLQURL)
	return h
}

func TestEndToEndAWSEmulators(t *testing.T) {
	h := newAWSHarness(t)
	runPipelineScenarios(t, h)
	if err := h.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
	}
}
