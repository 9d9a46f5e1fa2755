package doctor_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/doctor"
	"github.com/orderflow/orderflow/infra/dynamo"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/sqlite"
)

const (
	testKey     = "sk_test_doctor_0123456789"
	webhookURL  = "https://api.example.com/prod/webhooks/stripe"
	testSigning = "whsec_doctor_0123456789"
)

// run performs the checks on env and returns the results by name, in order.
func run(t *testing.T, env map[string]string) ([]string, map[string]doctor.Result, int) {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var names []string
	byName := map[string]doctor.Result{}
	failed := doctor.Run(ctx, doctor.Options{Config: cfg, Timeout: 20 * time.Second}, func(r doctor.Result) {
		names = append(names, r.Check)
		byName[r.Check] = r
	})
	return names, byName, failed
}

// failing lists the checks that failed.
func failing(names []string, byName map[string]doctor.Result) []string {
	var out []string
	for _, n := range names {
		if !byName[n].OK {
			out = append(out, n)
		}
	}
	return out
}

// stripeAccount is a stand-in whose one endpoint points at webhookURL with
// every accepted type.
func stripeAccount(t *testing.T) *emulator.StripeAccountServer {
	t.Helper()
	srv := emulator.StripeAccount(t)
	srv.SetWebhookEndpoints(
		emulator.StripeWebhookEndpoint{ID: "we_other", URL: "https://elsewhere.example/hook", EnabledEvents: []string{"*"}},
		emulator.StripeWebhookEndpoint{ID: "we_ours", URL: webhookURL, EnabledEvents: domain.AcceptedEventTypes()},
	)
	return srv
}

// freshSQLite is a data folder as `orderflow serve` leaves it: the database
// and the dev signing secret.
func freshSQLite(t *testing.T) (map[string]string, *emulator.StripeAccountServer) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".orderflow")
	path := filepath.Join(dir, "orderflow.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.WriteFile(filepath.Join(dir, "webhook-secret"), []byte(testSigning+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := stripeAccount(t)
	return map[string]string{
		"ORDERFLOW_DB": path, "STRIPE_SECRET_KEY": testKey, "STRIPE_API_BASE": srv.URL, "STRIPE_WEBHOOK_URL": webhookURL,
	}, srv
}

var sqliteChecks = []string{"sqlite.file", "sqlite.permissions", "sqlite.integrity", "dlq.empty",
	"secret.stripeKey", "secret.webhookSecret", "stripe.key", "stripe.webhookEndpoint"}

func TestDoctorSQLite(t *testing.T) {
	t.Parallel()
	t.Run("fresh install is green", func(t *testing.T) {
		t.Parallel()
		env, _ := freshSQLite(t)
		names, byName, failed := run(t, env)
		if failed != 0 || !slices.Equal(names, sqliteChecks) {
			t.Fatalf("checks %v, failing %v: %+v", names, failing(names, byName), byName)
		}
		if d := byName["stripe.webhookEndpoint"].Detail; !strings.Contains(d, "we_ours") {
			t.Errorf("webhook detail = %q", d)
		}
		for _, r := range byName {
			if strings.Contains(r.Detail, testKey) || strings.Contains(r.Detail, testSigning) {
				t.Errorf("%s prints a secret: %q", r.Check, r.Detail)
			}
		}
	})
	tests := []struct {
		name   string
		break_ func(t *testing.T, env map[string]string, srv *emulator.StripeAccountServer)
		red    []string
		detail string // in the first red check's detail
	}{
		{"dlq not empty", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			db, err := sqlite.Open(context.Background(), env["ORDERFLOW_DB"])
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: backend.SQLiteDLQ})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := q.Send(context.Background(), domain.OutgoingMessage{Body: []byte(`{}`), GroupID: "g", DedupID: "d"}); err != nil {
				t.Fatal(err)
			}
		}, []string{"dlq.empty"}, "1 message"},
		{"readable by others", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			if err := os.Chmod(env["ORDERFLOW_DB"], 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"sqlite.permissions"}, "0644"},
		{"corrupt file", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			if err := os.WriteFile(env["ORDERFLOW_DB"], []byte(strings.Repeat("garbage ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"sqlite.integrity", "dlq.empty"}, "orderflow.db"},
		{"no database", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			env["ORDERFLOW_DB"] = filepath.Join(t.TempDir(), "missing", "orderflow.db")
		}, []string{"sqlite.file", "sqlite.permissions", "sqlite.integrity", "dlq.empty", "secret.webhookSecret"}, "no database"},
		{"malformed dev signing secret", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			if err := os.WriteFile(filepath.Join(filepath.Dir(env["ORDERFLOW_DB"]), "webhook-secret"), []byte("sk_test_wrong_place"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"secret.webhookSecret"}, "not a signing secret"},
		{"no secret key", func(_ *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			delete(env, "STRIPE_SECRET_KEY")
		}, []string{"secret.stripeKey", "stripe.key", "stripe.webhookEndpoint"}, "STRIPE_SECRET_KEY"},
		{"key rejected by Stripe", func(_ *testing.T, _ map[string]string, srv *emulator.StripeAccountServer) {
			srv.SetKey("sk_test_another_key")
		}, []string{"stripe.key", "stripe.webhookEndpoint"}, "401"},
		{"endpoint lacks an event type", func(_ *testing.T, _ map[string]string, srv *emulator.StripeAccountServer) {
			types := slices.DeleteFunc(domain.AcceptedEventTypes(), func(s string) bool { return s == "charge.dispute.closed" })
			srv.SetWebhookEndpoints(emulator.StripeWebhookEndpoint{ID: "we_ours", URL: webhookURL, EnabledEvents: types})
		}, []string{"stripe.webhookEndpoint"}, "we_ours lacks charge.dispute.closed"},
		{"endpoint disabled", func(_ *testing.T, _ map[string]string, srv *emulator.StripeAccountServer) {
			srv.SetWebhookEndpoints(emulator.StripeWebhookEndpoint{ID: "we_ours", URL: webhookURL, Status: "disabled", EnabledEvents: []string{"*"}})
		}, []string{"stripe.webhookEndpoint"}, "we_ours is disabled"},
		{"no endpoint for this deployment", func(_ *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			env["STRIPE_WEBHOOK_URL"] = "https://api.example.com/staging/webhooks/stripe"
		}, []string{"stripe.webhookEndpoint"}, "no Stripe webhook endpoint points at https://api.example.com/staging/webhooks/stripe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, srv := freshSQLite(t)
			tt.break_(t, env, srv)
			names, byName, failed := run(t, env)
			if got := failing(names, byName); !slices.Equal(got, tt.red) || failed != len(tt.red) {
				t.Fatalf("failing %v (%d), want %v: %+v", got, failed, tt.red, byName)
			}
			if d := byName[tt.red[0]].Detail; !strings.Contains(d, tt.detail) {
				t.Fatalf("%s detail = %q, want it to mention %q", tt.red[0], d, tt.detail)
			}
			if !slices.Equal(names, sqliteChecks) {
				t.Fatalf("checks = %v", names)
			}
		})
	}
	t.Run("missing file is not created", func(t *testing.T) {
		t.Parallel()
		env, _ := freshSQLite(t)
		env["ORDERFLOW_DB"] = filepath.Join(t.TempDir(), "nothing", "orderflow.db")
		run(t, env)
		if _, err := os.Stat(env["ORDERFLOW_DB"]); !os.IsNotExist(err) {
			t.Fatalf("doctor created %s", env["ORDERFLOW_DB"])
		}
	})
	t.Run("no webhook url on SQLite is a skip", func(t *testing.T) {
		t.Parallel()
		env, _ := freshSQLite(t)
		delete(env, "STRIPE_WEBHOOK_URL")
		_, byName, failed := run(t, env)
		if r := byName["stripe.webhookEndpoint"]; failed != 0 || !strings.HasPrefix(r.Detail, "skipped") {
			t.Fatalf("failed %d, %+v", failed, r)
		}
	})
}

// awsEnv bootstraps a table and queues on the emulators (emulator.AWSEnv)
// and both secrets in kumo's Secrets Manager.
func awsEnv(t *testing.T) (map[string]string, *emulator.StripeAccountServer) {
	t.Helper()
	env := emulator.AWSEnv(t)
	keyARN := putSecret(t, `{"secretKey":"`+testKey+`"}`)
	hookARN := putSecret(t, `{"webhookSecrets":["whsec_new_0123","whsec_old_0123"]}`)
	srv := stripeAccount(t)
	env["ORDERFLOW_BACKEND"] = "aws"
	env["STRIPE_SECRET_ARN"] = keyARN
	env["STRIPE_WEBHOOK_SECRET_ARN"] = hookARN
	env["STRIPE_API_BASE"] = srv.URL
	env["STRIPE_WEBHOOK_URL"] = webhookURL
	return env, srv
}

var secretSeq int

func putSecret(t *testing.T, value string) string {
	t.Helper()
	secretSeq++
	client := secretsmanager.NewFromConfig(emulator.AWSConfig(emulator.Kumo(t)))
	out, err := client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(emulator.TableName(t) + "-secret"), SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	return aws.ToString(out.ARN)
}

var awsChecks = []string{"dynamodb.table", "dynamodb.index.UserIndex", "dynamodb.index.SellerIndex",
	"dynamodb.index.PaymentIntentIndex", "dynamodb.index.StatusIndex", "sqs.events", "sqs.dlq", "sqs.redrive",
	"dlq.empty", "secret.stripeKey", "secret.webhookSecret", "stripe.key", "stripe.webhookEndpoint"}

// TestDoctorAWSEmulators cannot run in parallel: emulator.AWSEnv points the
// SDK at the emulators through the process environment.
func TestDoctorAWSEmulators(t *testing.T) {
	t.Run("bootstrapped emulators are green", func(t *testing.T) {
		env, _ := awsEnv(t)
		names, byName, failed := run(t, env)
		if failed != 0 || !slices.Equal(names, awsChecks) {
			t.Fatalf("checks %v, failing %v: %+v", names, failing(names, byName), byName)
		}
		if d := byName["secret.webhookSecret"].Detail; !strings.Contains(d, "2 signing secret") {
			t.Errorf("webhook secret detail = %q", d)
		}
	})
	tests := []struct {
		name   string
		break_ func(t *testing.T, env map[string]string, srv *emulator.StripeAccountServer)
		red    []string
		detail string
	}{
		{"index missing", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			in := dynamo.TableInput(emulator.TableName(t))
			in.GlobalSecondaryIndexes = slices.DeleteFunc(in.GlobalSecondaryIndexes, func(g types.GlobalSecondaryIndex) bool {
				return aws.ToString(g.IndexName) == dynamo.PaymentIntentIndex
			})
			client := dynamodb.NewFromConfig(emulator.AWSConfig(emulator.Dynalite(t)))
			if _, err := client.CreateTable(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if err := dynamo.WaitActive(context.Background(), client, aws.ToString(in.TableName)); err != nil {
				t.Fatal(err)
			}
			env["ORDERS_TABLE"] = aws.ToString(in.TableName)
		}, []string{"dynamodb.index.PaymentIntentIndex"}, "has no index PaymentIntentIndex"},
		{"index projects keys only", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			in := dynamo.TableInput(emulator.TableName(t))
			for i, g := range in.GlobalSecondaryIndexes {
				if aws.ToString(g.IndexName) == dynamo.UserIndex {
					in.GlobalSecondaryIndexes[i].Projection = &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}
				}
			}
			client := dynamodb.NewFromConfig(emulator.AWSConfig(emulator.Dynalite(t)))
			if _, err := client.CreateTable(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if err := dynamo.WaitActive(context.Background(), client, aws.ToString(in.TableName)); err != nil {
				t.Fatal(err)
			}
			env["ORDERS_TABLE"] = aws.ToString(in.TableName)
		}, []string{"dynamodb.index.UserIndex"}, "projects KEYS_ONLY, not ALL"},
		{"table missing", func(_ *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			env["ORDERS_TABLE"] = "Orders-nowhere"
		}, []string{"dynamodb.table", "dynamodb.index.UserIndex", "dynamodb.index.SellerIndex",
			"dynamodb.index.PaymentIntentIndex", "dynamodb.index.StatusIndex"}, "does not exist"},
		{"dlq not empty", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			client := awssqs.NewFromConfig(emulator.AWSConfig(emulator.Kumo(t)))
			_, err := client.SendMessage(context.Background(), &awssqs.SendMessageInput{
				QueueUrl: aws.String(env["DLQ_URL"]), MessageBody: aws.String("{}"),
				MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d"),
			})
			if err != nil {
				t.Fatal(err)
			}
		}, []string{"dlq.empty"}, "1 message"},
		{"secret malformed", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			env["STRIPE_SECRET_ARN"] = putSecret(t, `{"secretKey":"pk_test_publishable_oops"}`)
		}, []string{"secret.stripeKey", "stripe.key", "stripe.webhookEndpoint"}, "does not hold a Stripe secret key"},
		{"webhook secret malformed", func(t *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			env["STRIPE_WEBHOOK_SECRET_ARN"] = putSecret(t, `{"webhookSecret":"sk_test_wrong_secret"}`)
		}, []string{"secret.webhookSecret"}, "not a signing secret"},
		{"endpoint lacks an event type", func(_ *testing.T, _ map[string]string, srv *emulator.StripeAccountServer) {
			types := slices.DeleteFunc(domain.AcceptedEventTypes(), func(s string) bool { return s == "refund.failed" })
			srv.SetWebhookEndpoints(emulator.StripeWebhookEndpoint{ID: "we_ours", URL: webhookURL, EnabledEvents: types})
		}, []string{"stripe.webhookEndpoint"}, "lacks refund.failed"},
		{"no webhook url", func(_ *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			delete(env, "STRIPE_WEBHOOK_URL")
		}, []string{"stripe.webhookEndpoint"}, "STRIPE_WEBHOOK_URL is not set"},
		{"queue url not set", func(_ *testing.T, env map[string]string, _ *emulator.StripeAccountServer) {
			delete(env, "EVENTS_QUEUE_URL")
		}, []string{"sqs.events", "sqs.redrive"}, "EVENTS_QUEUE_URL is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, srv := awsEnv(t)
			tt.break_(t, env, srv)
			names, byName, failed := run(t, env)
			if got := failing(names, byName); !slices.Equal(got, tt.red) || failed != len(tt.red) {
				t.Fatalf("failing %v (%d), want %v: %+v", got, failed, tt.red, byName)
			}
			if d := byName[tt.red[0]].Detail; !strings.Contains(d, tt.detail) {
				t.Fatalf("%s detail = %q, want it to mention %q", tt.red[0], d, tt.detail)
			}
			for _, r := range byName {
				if strings.Contains(r.Detail, "oops") || strings.Contains(r.Detail, "wrong_secret") || strings.Contains(r.Detail, testKey) {
					t.Fatalf("%s prints a secret: %q", r.Check, r.Detail)
				}
			}
		})
	}
}
