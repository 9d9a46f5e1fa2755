// Package backend assembles the adapters a process runs on, from its
// configuration: the embedded SQLite default or SQS + DynamoDB on AWS. Every
// entry point (orderflow serve, the operator commands, the Lambda functions)
// opens its parts here, so they all run the same wiring.
package backend

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/dynamo"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/infra/sqs"
)

// Queue names inside the SQLite database.
const (
	SQLiteEventsQueue = "events"
	SQLiteDLQ         = "events-dlq"
)

// errNoSQLite is what a build without the SQLite backend answers.
var errNoSQLite = errors.New("this binary was built without the SQLite backend (build tag nosqlite); set ORDERFLOW_BACKEND=aws")

// Queue is a FIFO queue that can also be inspected (depth, peek), which both
// adapters provide.
type Queue interface {
	domain.Queue
	domain.Inspector
}

// SecretSource serves the Stripe secrets.
type SecretSource interface {
	WebhookSecrets(ctx context.Context) ([]string, error)
	RefreshWebhookSecrets(ctx context.Context) ([]string, error)
	SecretKey(ctx context.Context) (string, error)
}

// Parts says which adapters a process needs, so a Lambda opens only its own.
type Parts struct {
	Store  bool
	Events bool // the events queue
	DLQ    bool // the dead-letter queue
	// ReadOnly opens the SQLite database for reading only (orders get and
	// list, dlq list): it works on a read-only copy, creates nothing, and
	// every write fails with a clear error. The AWS backend ignores it.
	ReadOnly bool
}

// All is every part.
var All = Parts{Store: true, Events: true, DLQ: true}

// Backend holds the opened adapters. Fields a process did not ask for are nil.
type Backend struct {
	Store   domain.Store
	Events  Queue
	DLQ     Queue
	Secrets SecretSource
	// AWS is the SDK configuration on the aws backend (zero on SQLite unless
	// secrets come from Secrets Manager).
	AWS aws.Config
	// Health reports, with the reason, when the backend cannot accept events
	// now (SQLite: the file gone or replaced, not writable, full, corrupt).
	// Nil when there is nothing local to check (AWS).
	Health func(ctx context.Context) error
	close  func() error
}

// Close releases the database or connections.
func (b *Backend) Close() error {
	if b == nil || b.close == nil {
		return nil
	}
	return b.close()
}

// Open opens the parts of the configured backend.
func Open(ctx context.Context, cfg config.Config, parts Parts, log *zap.Logger) (*Backend, error) {
	if log == nil {
		log = zap.NewNop()
	}
	b := &Backend{}
	switch cfg.Backend {
	case config.BackendSQLite:
		if err := openSQLite(ctx, cfg, parts, b); err != nil {
			return nil, err
		}
	case config.BackendAWS:
		if err := cfg.RequireAWS(parts.Store, parts.Events, parts.DLQ); err != nil {
			return nil, err
		}
		awsCfg, err := LoadAWS(ctx)
		if err != nil {
			return nil, err
		}
		b.AWS = awsCfg
		if parts.Store {
			store, err := dynamo.NewStore(dynamodb.NewFromConfig(awsCfg), dynamo.Config{Table: cfg.OrdersTable, Logger: log})
			if err != nil {
				return nil, err
			}
			b.Store = store
		}
		client := awssqs.NewFromConfig(awsCfg)
		if parts.Events {
			events, err := sqs.NewQueue(client, sqs.Config{QueueURL: cfg.EventsQueueURL, VisibilityTimeout: cfg.VisibilityTimeout})
			if err != nil {
				return nil, err
			}
			b.Events = events
		}
		if parts.DLQ {
			dlq, err := sqs.NewQueue(client, sqs.Config{QueueURL: cfg.DLQURL})
			if err != nil {
				return nil, err
			}
			b.DLQ = dlq
		}
	default:
		return nil, fmt.Errorf("unknown backend %q", cfg.Backend)
	}
	src, err := openSecrets(ctx, cfg, b, log)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	b.Secrets = src
	return b, nil
}

// openSecrets uses Secrets Manager when an ARN is configured, else the env
// values; a mix (one ARN, one env value) is allowed.
func openSecrets(ctx context.Context, cfg config.Config, b *Backend, log *zap.Logger) (SecretSource, error) {
	static := secrets.NewStatic(cfg.StripeSecretKey, cfg.StripeWebhookSecret)
	if cfg.StripeSecretARN == "" && cfg.StripeWebhookSecretARN == "" {
		return static, nil
	}
	if b.AWS.Region == "" && b.AWS.Credentials == nil {
		awsCfg, err := LoadAWS(ctx)
		if err != nil {
			return nil, err
		}
		b.AWS = awsCfg
	}
	m, err := secrets.NewManager(secretsmanager.NewFromConfig(b.AWS), secrets.ManagerConfig{
		SecretKeyARN: cfg.StripeSecretARN, WebhookSecretARN: cfg.StripeWebhookSecretARN,
		TTL: cfg.SecretsTTL, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return mixedSecrets{manager: m, static: static, cfg: cfg}, nil
}

// mixedSecrets serves each secret from Secrets Manager when its ARN is set.
type mixedSecrets struct {
	manager *secrets.Manager
	static  *secrets.Static
	cfg     config.Config
}

func (m mixedSecrets) WebhookSecrets(ctx context.Context) ([]string, error) {
	if m.cfg.StripeWebhookSecretARN != "" {
		return m.manager.WebhookSecrets(ctx)
	}
	return m.static.WebhookSecrets(ctx)
}

func (m mixedSecrets) RefreshWebhookSecrets(ctx context.Context) ([]string, error) {
	if m.cfg.StripeWebhookSecretARN != "" {
		return m.manager.RefreshWebhookSecrets(ctx)
	}
	return m.static.RefreshWebhookSecrets(ctx)
}

func (m mixedSecrets) SecretKey(ctx context.Context) (string, error) {
	if m.cfg.StripeSecretARN != "" {
		return m.manager.SecretKey(ctx)
	}
	return m.static.SecretKey(ctx)
}

// LoadAWS loads the SDK's standard configuration: AWS_REGION, credentials
// chain, and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> for emulators.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("invalid configuration: AWS_REGION is not set")
	}
	return cfg, nil
}
