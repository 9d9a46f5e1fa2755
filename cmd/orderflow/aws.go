package main

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/dynamo"
	"github.com/orderflow/orderflow/infra/sqs"
)

func (a *app) awsCommand() *cobra.Command {
	bootstrap := &cobra.Command{
		Use:   "bootstrap",
		Short: "Create the orders table and both FIFO queues where missing (emulators, quick trials)",
		Long: `Creates ORDERS_TABLE (default Orders-dev) with its four indexes and the FIFO queues
EVENTS_QUEUE_NAME / DLQ_NAME (defaults orderflow-events-dev.fifo, orderflow-events-dlq-dev.fifo)
with the redrive policy, and prints their names and URLs. Existing resources are left as they are.
Production stacks come from template.yaml instead.`,
		Example: `  AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 AWS_ENDPOINT_URL_SQS=http://127.0.0.1:4566 \
    AWS_REGION=us-east-1 orderflow aws bootstrap`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			awsCfg, err := backend.LoadAWS(ctx)
			if err != nil {
				return err
			}
			if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(awsCfg), a.cfg.OrdersTable); err != nil {
				return err
			}
			eventsURL, dlqURL, err := sqs.CreateFIFOQueues(ctx, awssqs.NewFromConfig(awsCfg),
				a.cfg.EventsQueueName, a.cfg.DLQName, a.cfg.MaxReceives, a.cfg.VisibilityTimeout)
			if err != nil {
				return err
			}
			return a.printJSON(map[string]string{"table": a.cfg.OrdersTable, "eventsQueueUrl": eventsURL, "dlqUrl": dlqURL})
		},
	}
	return group("aws", "Set up AWS resources for emulators and trials", bootstrap)
}
