package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	stypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/infra/dynamo"
)

// indexes are the OrdersTable's GSIs and their hash keys (SPEC §2).
var indexes = []struct{ name, key string }{
	{dynamo.UserIndex, "userId"},
	{dynamo.SellerIndex, "sellerId"},
	{dynamo.PaymentIntentIndex, "stripePaymentIntentId"},
	{dynamo.StatusIndex, "status"},
}

// awsChecks: the table and its indexes ACTIVE (playbook §4, §12), both
// queues, the redrive from the events queue to the DLQ, and an empty DLQ.
func (d *doctor) awsChecks(ctx context.Context) {
	awsCfg, err := d.aws(ctx)
	if err != nil {
		for _, name := range d.awsCheckNames() {
			d.emit(Result{Check: name, Detail: oneLine(err.Error())})
		}
		return
	}
	d.tableChecks(ctx, dynamodb.NewFromConfig(awsCfg))
	d.queueChecks(ctx, awssqs.NewFromConfig(awsCfg))
}

func (d *doctor) awsCheckNames() []string {
	names := []string{CheckTable}
	for _, ix := range indexes {
		names = append(names, CheckIndexPrefix+ix.name)
	}
	return append(names, CheckEventsQueue, CheckDLQ, CheckRedrive, CheckDLQEmpty)
}

func (d *doctor) tableChecks(ctx context.Context, client *dynamodb.Client) {
	table := d.cfg.OrdersTable
	var desc *dtypes.TableDescription
	d.check(ctx, CheckTable, func(ctx context.Context) (string, error) {
		if table == "" {
			return "", errors.New("ORDERS_TABLE is not set")
		}
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		var missing *dtypes.ResourceNotFoundException
		if errors.As(err, &missing) {
			return "", fmt.Errorf("table %s does not exist (deploy template.yaml, or orderflow aws bootstrap on emulators)", table)
		}
		if err != nil {
			return "", fmt.Errorf("describe table %s: %w", table, err)
		}
		desc = out.Table
		if desc.TableStatus != dtypes.TableStatusActive {
			return "", fmt.Errorf("table %s is %s, not ACTIVE", table, desc.TableStatus)
		}
		return fmt.Sprintf("table %s is ACTIVE", table), nil
	})
	for _, ix := range indexes {
		name := CheckIndexPrefix + ix.name
		if desc == nil {
			d.skip(name, "no table (see "+CheckTable+")")
			continue
		}
		d.check(ctx, name, func(context.Context) (string, error) {
			for _, g := range desc.GlobalSecondaryIndexes {
				if aws.ToString(g.IndexName) != ix.name {
					continue
				}
				if len(g.KeySchema) == 0 || aws.ToString(g.KeySchema[0].AttributeName) != ix.key {
					return "", fmt.Errorf("index %s of %s is not keyed on %s", ix.name, table, ix.key)
				}
				// orderflow reads whole orders from its indexes (the access
				// check, listing): an index that projects less answers with
				// hollow orders, as the playbook's OrdersTable (ALL) avoids.
				if g.Projection == nil || g.Projection.ProjectionType != dtypes.ProjectionTypeAll {
					got := "none"
					if g.Projection != nil {
						got = string(g.Projection.ProjectionType)
					}
					return "", fmt.Errorf("index %s of %s projects %s, not ALL: orders read through it lack their fields (the playbook's OrdersTable projects ALL)", ix.name, table, got)
				}
				if g.IndexStatus != dtypes.IndexStatusActive {
					return "", fmt.Errorf("index %s of %s is %s, not ACTIVE: lookups by %s fall back to scans ([orders-index-warning])", ix.name, table, g.IndexStatus, ix.key)
				}
				return fmt.Sprintf("index %s (%s) is ACTIVE", ix.name, ix.key), nil
			}
			return "", fmt.Errorf("table %s has no index %s: lookups by %s fall back to scans ([orders-index-warning]); add it as in template.yaml", table, ix.name, ix.key)
		})
	}
}

func (d *doctor) queueChecks(ctx context.Context, client *awssqs.Client) {
	attrs := func(ctx context.Context, env, queueURL string) (map[string]string, error) {
		if queueURL == "" {
			return nil, fmt.Errorf("%s is not set", env)
		}
		out, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
			QueueUrl: aws.String(queueURL), AttributeNames: []stypes.QueueAttributeName{stypes.QueueAttributeNameAll},
		})
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", env, queueURL, err)
		}
		return out.Attributes, nil
	}
	fifo := func(a map[string]string, env, queueURL string) (string, error) {
		if a[string(stypes.QueueAttributeNameFifoQueue)] != "true" {
			return "", fmt.Errorf("%s %s is not a FIFO queue", env, queueURL)
		}
		return fmt.Sprintf("%s exists (FIFO, %s)", queueURL, a[string(stypes.QueueAttributeNameQueueArn)]), nil
	}
	var events, dlq map[string]string
	d.check(ctx, CheckEventsQueue, func(ctx context.Context) (string, error) {
		a, err := attrs(ctx, "EVENTS_QUEUE_URL", d.cfg.EventsQueueURL)
		if err != nil {
			return "", err
		}
		events = a
		return fifo(a, "EVENTS_QUEUE_URL", d.cfg.EventsQueueURL)
	})
	d.check(ctx, CheckDLQ, func(ctx context.Context) (string, error) {
		a, err := attrs(ctx, "DLQ_URL", d.cfg.DLQURL)
		if err != nil {
			return "", err
		}
		dlq = a
		return fifo(a, "DLQ_URL", d.cfg.DLQURL)
	})
	if events == nil || dlq == nil {
		d.skip(CheckRedrive, "both queues are needed (see "+CheckEventsQueue+", "+CheckDLQ+")")
	} else {
		d.check(ctx, CheckRedrive, func(context.Context) (string, error) {
			raw := events[string(stypes.QueueAttributeNameRedrivePolicy)]
			if raw == "" {
				return "", errors.New("the events queue has no redrive policy: failed messages are never dead-lettered")
			}
			var p struct {
				Target   string `json:"deadLetterTargetArn"`
				MaxCount any    `json:"maxReceiveCount"`
			}
			if err := json.Unmarshal([]byte(raw), &p); err != nil {
				return "", fmt.Errorf("the events queue's redrive policy is not JSON: %v", err)
			}
			want := dlq[string(stypes.QueueAttributeNameQueueArn)]
			if p.Target != want {
				return "", fmt.Errorf("the events queue redrives to %s, not to DLQ_URL's queue %s", p.Target, want)
			}
			return fmt.Sprintf("the events queue redrives to the DLQ after %v receives", p.MaxCount), nil
		})
	}
	if dlq == nil {
		d.skip(CheckDLQEmpty, "no dead-letter queue (see "+CheckDLQ+")")
		return
	}
	d.check(ctx, CheckDLQEmpty, func(context.Context) (string, error) {
		visible, err1 := strconv.Atoi(dlq[string(stypes.QueueAttributeNameApproximateNumberOfMessages)])
		hidden, err2 := strconv.Atoi(dlq[string(stypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
		if err1 != nil {
			return "", errors.New("the DLQ reports no ApproximateNumberOfMessages")
		}
		if err2 != nil {
			hidden = 0
		}
		return dlqDetail(visible, hidden)
	})
}

// dlqDetail says whether the dead-letter queue is empty and what to do if not.
func dlqDetail(visible, inFlight int) (string, error) {
	if visible+inFlight == 0 {
		return "the dead-letter queue is empty", nil
	}
	parts := []string{fmt.Sprintf("%d message(s)", visible)}
	if inFlight > 0 {
		parts = append(parts, fmt.Sprintf("%d in flight", inFlight))
	}
	return "", fmt.Errorf("the dead-letter queue holds %s: see orderflow dlq list, then dlq redrive (playbook §3)", strings.Join(parts, ", "))
}
