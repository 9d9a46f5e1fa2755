package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Global secondary indexes of the OrdersTable (SPEC §2) and their hash keys.
const (
	UserIndex          = "UserIndex"
	SellerIndex        = "SellerIndex"
	PaymentIntentIndex = "PaymentIntentIndex"
	StatusIndex        = "StatusIndex"
)

// Attribute names that keys and filters use; they are the JSON names of
// domain.Order.
const (
	attrID             = "id"
	attrUserID         = "userId"
	attrSellerID       = "sellerId"
	attrPaymentIntent  = "stripePaymentIntentId"
	attrStatus         = "status"
	attrRequiresReview = "requiresReview"
	attrVersion        = "version"
	attrAppliedEvents  = "appliedEvents"
)

// indexKeys maps each GSI to its hash key attribute.
var indexKeys = map[string]string{
	UserIndex:          attrUserID,
	SellerIndex:        attrSellerID,
	PaymentIntentIndex: attrPaymentIntent,
	StatusIndex:        attrStatus,
}

// TableInput is the CreateTable request for the OrdersTable exactly as SPEC §2
// and the operations playbook define it: key id, the four GSIs with projection
// ALL, on-demand billing. Tests change a copy of it to build broken tables.
func TableInput(table string) *dynamodb.CreateTableInput {
	attrs := []types.AttributeDefinition{{AttributeName: aws.String(attrID), AttributeType: types.ScalarAttributeTypeS}}
	var gsis []types.GlobalSecondaryIndex
	for _, name := range []string{UserIndex, SellerIndex, PaymentIntentIndex, StatusIndex} {
		key := indexKeys[name]
		attrs = append(attrs, types.AttributeDefinition{AttributeName: aws.String(key), AttributeType: types.ScalarAttributeTypeS})
		gsis = append(gsis, types.GlobalSecondaryIndex{
			IndexName:  aws.String(name),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	return &dynamodb.CreateTableInput{
		TableName:              aws.String(table),
		AttributeDefinitions:   attrs,
		KeySchema:              []types.KeySchemaElement{{AttributeName: aws.String(attrID), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: gsis,
		BillingMode:            types.BillingModePayPerRequest,
	}
}

// tableWaitLimit bounds CreateTable's wait when ctx has no deadline; real
// DynamoDB takes well under a minute for an empty table with four GSIs.
const tableWaitLimit = 5 * time.Minute

// CreateTable creates the OrdersTable (TableInput) unless a table of that name
// exists, then waits until the table and all its indexes are ACTIVE. An
// existing table is left as it is, whatever its indexes.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, tableWaitLimit)
		defer cancel()
	}
	_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var missing *types.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		_, err = client.CreateTable(ctx, TableInput(table))
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // in use: another bootstrap won the race
			return fmt.Errorf("create table %s: %w", table, err)
		}
	case err != nil:
		return fmt.Errorf("describe table %s: %w", table, err)
	}
	return WaitActive(ctx, client, table)
}

// WaitActive polls until the table and every GSI on it are ACTIVE. The SDK's
// TableExistsWaiter starts at a 20 s delay, far too slow for emulators, so
// this one starts at 50 ms and backs off to 2 s.
func WaitActive(ctx context.Context, client *dynamodb.Client, table string) error {
	delay := 50 * time.Millisecond
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		var missing *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &missing) {
			return fmt.Errorf("wait for table %s: %w", table, err)
		}
		if err == nil && tableActive(out.Table) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for table %s to be ACTIVE: %w", table, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func tableActive(t *types.TableDescription) bool {
	if t == nil || t.TableStatus != types.TableStatusActive {
		return false
	}
	for _, g := range t.GlobalSecondaryIndexes {
		if g.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}
