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

// fixture reads a Stripe event fixture with its ids made unique to tag.
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

// deadLetter puts a Stripe event on the DLQ as the worker does, with extra
// attributes on top of the ingress's.
func deadLetter(t *testing.T, ctx context.Context, dlq domain.Queue, body []byte, extra map[string]string) domain.OutgoingMessage {
	t.Helper()
	ev, err := domain.ParseEvent(body)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	attrs := map[string]string{domain.AttrEventType: ev.Type, domain.AttrEventID: ev.ID, domain.AttrSource: domain.SourceWebhook}
	for k, v := range extra {
		attrs[k] = v
	}
	m := domain.OutgoingMessage{Body: body, GroupID: ev.GroupID(), DedupID: ev.ID, Attributes: attrs}
	if _, err := dlq.Send(ctx, m); err != nil {
		t.Fatalf("send to dlq: %v", err)
	}
	return m
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

func TestReplayFunction(t *testing.T) {
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
			be := inspect(t, ctx, e)
			lastError := map[string]string{domain.AttrLastError: "order not found"}
			succeeded := deadLetter(t, ctx, be.DLQ, fixture(t, "payment_intent.succeeded.json", "r1"), lastError)
			deadLetter(t, ctx, be.DLQ, fixture(t, "charge.refunded.json", "r2"), map[string]string{domain.AttrReplayCount: "3"})
			failed := deadLetter(t, ctx, be.DLQ, fixture(t, "payment_intent.payment_failed.json", "r3"), lastError)

			// In order: each run sees what the earlier ones left.
			steps := []struct {
				name    string
				payload string
				want    string
				wantErr string
			}{
				{"dry run", `{"dryRun": true}`, `{"moved":2,"parked":1,"remaining":3}`, ""},
				{"one type", `{"limit": 5, "type": "payment_intent.succeeded", "dryRun": false}`, `{"moved":1,"parked":0,"remaining":2}`, ""},
				{"mistyped field", `{"dry_run": true}`, "", "dry_run"},
				{"negative limit", `{"limit": -1}`, "", "limit -1"},
				{"empty payload moves the rest", "", `{"moved":1,"parked":1,"remaining":1}`, ""},
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

			// The two moved messages are back on the events queue, in their
			// groups, under replay dedup ids.
			got := map[string]domain.Message{}
			for range 5 {
				msgs, err := be.Events.Receive(ctx, 10, time.Second)
				if err != nil {
					t.Fatalf("receive events: %v", err)
				}
				for _, m := range msgs {
					got[m.GroupID] = m
				}
				if len(msgs) == 0 {
					break
				}
			}
			if len(got) != 2 {
				t.Fatalf("events queue holds %d messages, want 2", len(got))
			}
			for _, want := range []domain.OutgoingMessage{succeeded, failed} {
				m, ok := got[want.GroupID]
				if !ok {
					t.Errorf("group %s: nothing on the events queue", want.GroupID)
					continue
				}
				if string(m.Body) != string(want.Body) || m.DedupID != want.DedupID+"#replay-1" ||
					m.Attributes[domain.AttrReplayCount] != "1" || m.Attributes[domain.AttrSource] != domain.SourceReplay ||
					m.Attributes[domain.AttrEventType] != want.Attributes[domain.AttrEventType] || m.Attributes[domain.AttrLastError] != "" {
					t.Errorf("group %s: replayed as dedup %s attrs %v (body equal: %v)", want.GroupID, m.DedupID, m.Attributes, string(m.Body) == string(want.Body))
				}
			}
		})
	}
}

func TestReplayConfigurationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  env
		want []string
	}{
		{"nothing set defaults to aws", env{}, []string{"EVENTS_QUEUE_URL", "DLQ_URL"}},
		{"bad values", env{"ORDERFLOW_BACKEND": "sqlite", "MAX_REPLAYS": "-1", "LOG_LEVEL": "loud"}, []string{"MAX_REPLAYS", "LOG_LEVEL"}},
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
	cmd.Env = []string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "MAX_REPLAYS=many"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("main exited with %v, want status 1; output:\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "cannot start") || !strings.Contains(lines[0], "MAX_REPLAYS") || strings.Contains(string(out), "goroutine") {
		t.Fatalf("init failure printed %d lines, want one naming MAX_REPLAYS:\n%s", len(lines), out)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil || line["level"] != "error" {
		t.Errorf("init failure line is not a JSON error log line: %s (%v)", lines[0], err)
	}
}
