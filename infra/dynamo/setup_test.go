package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/dynamo"
	"github.com/orderflow/orderflow/infra/emulator"
)

// testTimeout only keeps a broken emulator from hanging the run.
const testTimeout = 2 * time.Minute

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newClient talks to endpoint with static test credentials, never to AWS.
func newClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.NewFromConfig(emulator.AWSConfig(endpoint), optFns...)
}

// bundle is what most tests need: a client on the shared dynalite, a fresh
// table with the SPEC definition and a store on it.
type bundle struct {
	client *dynamodb.Client
	table  string
	store  *dynamo.Store
}

func setup(t *testing.T, cfg dynamo.Config) bundle {
	t.Helper()
	client := newClient(emulator.Dynalite(t))
	table := emulator.TableName(t)
	if err := dynamo.CreateTable(testContext(t), client, table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	cfg.Table = table
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	store, err := dynamo.NewStore(client, cfg)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return bundle{client: client, table: table, store: store}
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// order returns a valid new order; change fields after.
func order(id string) domain.Order {
	o, err := domain.NewOrder(domain.Order{
		ID: id, UserID: "user_1", SellerID: "seller_1", ProductID: "prod_1",
		Amount: 1999, Currency: "usd",
	}, t0)
	if err != nil {
		panic(err)
	}
	return o
}
