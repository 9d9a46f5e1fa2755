package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/domain"
)

// dlqRetention keeps dead letters for the SQS maximum, 14 days, so an
// operator back from a long weekend still finds them.
const dlqRetention = 14 * 24 * time.Hour

// HighThroughputAttributes are the events queue's FIFO high-throughput
// settings, as template.yaml sets them (infra/deploy checks that they match):
// the throughput quota applies per message group, and deduplication ids are
// compared within their group, which perMessageGroupId requires (Amazon SQS
// Developer Guide, "High throughput for FIFO queues"). Every duplicate
// orderflow must drop shares its group: the group is derived from the event
// itself, so a redelivered or re-fetched event comes with the same group and
// dedup id (its event id).
func HighThroughputAttributes() map[string]string {
	return map[string]string{
		string(types.QueueAttributeNameDeduplicationScope):  "messageGroup",
		string(types.QueueAttributeNameFifoThroughputLimit): "perMessageGroupId",
	}
}

// CreateFIFOQueues creates, where missing, the FIFO events queue and its
// FIFO dead-letter queue, with a redrive policy of maxReceives on the events
// queue, and returns their URLs. A queue that exists is left as it is: this
// is for `orderflow aws bootstrap` on emulators and for tests, while
// production queues come from template.yaml. Both are created with the
// template's attributes: high throughput and content-based deduplication on
// the events queue (HighThroughputAttributes), MaxMessageSize on both.
func CreateFIFOQueues(ctx context.Context, client *awssqs.Client, eventsName, dlqName string, maxReceives int, visibility time.Duration) (eventsURL, dlqURL string, err error) {
	var problems []string
	for _, name := range []string{eventsName, dlqName} {
		if !strings.HasSuffix(name, ".fifo") {
			problems = append(problems, fmt.Sprintf("queue name %q must end in .fifo", name))
		}
	}
	if eventsName == dlqName {
		problems = append(problems, "the events queue and the dead-letter queue need different names")
	}
	if maxReceives < 1 || maxReceives > 1000 {
		problems = append(problems, fmt.Sprintf("maxReceives %d: want between 1 and 1000", maxReceives))
	}
	if visibility < 0 || visibility > maxHide {
		problems = append(problems, fmt.Sprintf("visibility %s: want between 0 and 12h", visibility))
	}
	if client == nil {
		problems = append(problems, "nil client")
	}
	if len(problems) > 0 {
		return "", "", fmt.Errorf("%w: sqs create queues: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}

	dlqURL, err = ensureQueue(ctx, client, dlqName, map[string]string{
		string(types.QueueAttributeNameFifoQueue):                 "true",
		string(types.QueueAttributeNameContentBasedDeduplication): "false",
		string(types.QueueAttributeNameMessageRetentionPeriod):    strconv.Itoa(int(dlqRetention.Seconds())),
		string(types.QueueAttributeNameMaximumMessageSize):        strconv.Itoa(MaxMessageSize),
	})
	if err != nil {
		return "", "", err
	}
	attrs, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(dlqURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", wrap("create queues: dead-letter queue arn", err)
	}
	dlqARN := attrs.Attributes[string(types.QueueAttributeNameQueueArn)]
	if dlqARN == "" {
		return "", "", fmt.Errorf("sqs create queues: queue %s reported no QueueArn", dlqName)
	}
	redrive, err := json.Marshal(map[string]string{
		"deadLetterTargetArn": dlqARN,
		"maxReceiveCount":     strconv.Itoa(maxReceives),
	})
	if err != nil {
		return "", "", fmt.Errorf("sqs create queues: redrive policy: %w", err)
	}
	eventsAttrs := map[string]string{
		string(types.QueueAttributeNameFifoQueue): "true",
		// As in template.yaml, where EventBridge Scheduler needs it; every
		// orderflow producer passes an explicit dedup id, which takes
		// precedence over the content hash.
		string(types.QueueAttributeNameContentBasedDeduplication): "true",
		string(types.QueueAttributeNameMaximumMessageSize):        strconv.Itoa(MaxMessageSize),
		string(types.QueueAttributeNameRedrivePolicy):             string(redrive),
	}
	for k, v := range HighThroughputAttributes() {
		eventsAttrs[k] = v
	}
	if visibility > 0 {
		eventsAttrs[string(types.QueueAttributeNameVisibilityTimeout)] = strconv.Itoa(int(seconds(visibility)))
	}
	eventsURL, err = ensureQueue(ctx, client, eventsName, eventsAttrs)
	if err != nil {
		return "", "", err
	}
	return eventsURL, dlqURL, nil
}

// ensureQueue returns the URL of the named queue, creating it with attrs
// when it does not exist. Looking it up first keeps a rerun from failing on
// a queue whose attributes were changed since it was created.
func ensureQueue(ctx context.Context, client *awssqs.Client, name string, attrs map[string]string) (string, error) {
	got, err := client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err == nil {
		return aws.ToString(got.QueueUrl), nil
	}
	if !errors.Is(wrap("", err), domain.ErrNotFound) {
		return "", wrap("create queues: look up "+name, err)
	}
	created, err := client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", wrap("create queues: create "+name, err)
	}
	return aws.ToString(created.QueueUrl), nil
}
