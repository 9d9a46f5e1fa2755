// Package dynamo is the DynamoDB adapter of the orders store (SPEC §2): one
// item per order in the OrdersTable, every change one conditional UpdateItem,
// listing through the table's GSIs with a filtered scan as the fallback when
// an index cannot answer.
//
// It uses no transactions so that it runs unchanged against dynalite, which
// has no TransactWriteItems, and against real DynamoDB.
//
// One retry layer per call: throttling, 5xx answers and network errors are
// retried by the SDK's standard retryer alone (aws/retry: a bounded number of
// attempts with jittered exponential backoff, and a client-side retry quota
// that stops retrying when most calls fail), which every call of the store
// uses whatever retryer the client was built with. The store keeps no loop
// of its own for them, so attempts under throttling never multiply. What the
// SDK cannot know, a lost optimistic-lock race, is told apart by Save
// (domain.ErrConflict) and re-read and re-applied by domain.Update.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
)

// IndexWarning starts the message of the warning logged when a GSI cannot
// answer a List and the store falls back to a scan; operators alert on it.
const IndexWarning = "[orders-index-warning]"

// Retry defaults of the store's calls (Config.MaxAttempts, MaxBackoff).
// Four attempts with waits capped at 2 s keep a throttled call under ~5 s,
// well inside a worker's retry budget; the dispatcher then backs off per
// message and the queue redelivers.
const (
	DefaultMaxAttempts = 4
	DefaultMaxBackoff  = 2 * time.Second
)

// Config configures a Store.
type Config struct {
	// Table is the OrdersTable name, e.g. "Orders-dev". Required.
	Table string
	// Logger receives the index-fallback warnings; nil discards them.
	Logger *zap.Logger
	// Clock is kept for symmetry with the other adapters; the store writes
	// the timestamps its callers set. Defaults to domain.SystemClock.
	Clock domain.Clock
	// MaxAttempts bounds the attempts of one call, the first included, under
	// throttling, 5xx answers and network errors; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the jittered wait between two attempts; 0 means
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
}

// Store keeps orders in DynamoDB.
type Store struct {
	client *dynamodb.Client
	table  string
	log    *zap.Logger
	clock  domain.Clock
	// retryer is the one retry layer of every call (see the package doc).
	retryer aws.Retryer
	enc     *attributevalue.Encoder
	dec     *attributevalue.Decoder
}

var _ domain.Store = (*Store)(nil)

// NewStore returns a Store on table through client.
func NewStore(client *dynamodb.Client, cfg Config) (*Store, error) {
	var problems []string
	if client == nil {
		problems = append(problems, "client is nil")
	}
	if strings.TrimSpace(cfg.Table) == "" {
		problems = append(problems, "table name is required")
	}
	if cfg.MaxAttempts < 0 {
		problems = append(problems, "max attempts must not be negative")
	}
	if cfg.MaxBackoff < 0 {
		problems = append(problems, "max backoff must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("dynamo store: %s", strings.Join(problems, "; "))
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	return &Store{
		client: client,
		table:  cfg.Table,
		log:    cfg.Logger,
		clock:  cfg.Clock,
		// The standard retryer retries DynamoDB's throttling codes
		// (ThrottlingException, ProvisionedThroughputExceededException,
		// RequestLimitExceeded), 5xx answers and connection errors, with
		// full-jitter exponential backoff; ConditionalCheckFailed and
		// validation errors return at once (aws/retry, DefaultRetryables).
		retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = cfg.MaxAttempts
			o.MaxBackoff = cfg.MaxBackoff
		}),
		enc: attributevalue.NewEncoder(func(o *attributevalue.EncoderOptions) {
			o.TagKey = "json"
			// SPEC §2: timestamps are RFC 3339 UTC.
			o.EncodeTime = func(t time.Time) (types.AttributeValue, error) {
				return &types.AttributeValueMemberS{Value: t.UTC().Format(time.RFC3339Nano)}, nil
			}
		}),
		dec: attributevalue.NewDecoder(func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }),
	}, nil
}

// Create writes a new order; domain.ErrAlreadyExists if the id is taken.
func (s *Store) Create(ctx context.Context, o domain.Order) error {
	if strings.TrimSpace(o.ID) == "" {
		return fmt.Errorf("create order: %w: id is required", domain.ErrInvalid)
	}
	item, err := s.marshal(o)
	if err != nil {
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": attrID},
	}, s.withRetryer)
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return fmt.Errorf("create order %s: %w", o.ID, domain.ErrAlreadyExists)
	case err != nil:
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	return nil
}

// Get reads an order with a strongly consistent read; domain.ErrNotFound if
// there is none.
func (s *Store) Get(ctx context.Context, id string) (domain.Order, error) {
	o, found, err := s.get(ctx, id)
	switch {
	case err != nil:
		return domain.Order{}, fmt.Errorf("get order %s: %w", id, err)
	case !found:
		return domain.Order{}, fmt.Errorf("get order %s: %w", id, domain.ErrNotFound)
	}
	return o, nil
}

func (s *Store) get(ctx context.Context, id string) (domain.Order, bool, error) {
	if id == "" {
		// DynamoDB rejects an empty key with a ValidationException; no order
		// can have it, so say so plainly.
		return domain.Order{}, false, nil
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: id}},
		ConsistentRead: aws.Bool(true),
	}, s.withRetryer)
	if err != nil {
		return domain.Order{}, false, err
	}
	if len(out.Item) == 0 {
		return domain.Order{}, false, nil
	}
	o, err := s.unmarshal(out.Item)
	return o, err == nil, err
}

// Save writes the order with one conditional UpdateItem: the stored version
// must equal expectedVersion and, when eventID is set, the stored
// appliedEvents must not hold it. A failed condition is told apart by a
// consistent re-read: domain.ErrAlreadyApplied, ErrConflict or ErrNotFound.
func (s *Store) Save(ctx context.Context, o domain.Order, expectedVersion int64, eventID string) error {
	if o.Version <= expectedVersion {
		// A version that does not grow would let a stale writer pass the lock.
		return fmt.Errorf("save order %s: %w: version %d must be above the expected %d",
			o.ID, domain.ErrInvalid, o.Version, expectedVersion)
	}
	if eventID != "" && !slices.Contains(o.AppliedEvents, eventID) {
		// The stored set is what guards the next delivery, so the event
		// this write applies must be in it even if the caller forgot.
		o.AppliedEvents = append(slices.Clone(o.AppliedEvents), eventID)
		if n := len(o.AppliedEvents); n > domain.MaxAppliedEvents {
			o.AppliedEvents = o.AppliedEvents[n-domain.MaxAppliedEvents:]
		}
	}
	item, err := s.marshal(o)
	if err != nil {
		return fmt.Errorf("save order %s: %w", o.ID, err)
	}
	update, names, values := updateExpression(item)
	cond := "#v = :expected"
	names["#v"] = attrVersion
	values[":expected"] = &types.AttributeValueMemberN{Value: fmt.Sprint(expectedVersion)}
	if eventID != "" {
		cond += " AND NOT contains(#ae, :eventId)"
		names["#ae"] = attrAppliedEvents
		values[":eventId"] = &types.AttributeValueMemberS{Value: eventID}
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{attrID: item[attrID]},
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}, s.withRetryer)
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &failed):
		return fmt.Errorf("save order %s: %w", o.ID, err)
	}
	stored, found, err := s.get(ctx, o.ID)
	switch {
	case err != nil:
		return fmt.Errorf("save order %s: condition failed, re-read: %w", o.ID, err)
	case !found:
		return fmt.Errorf("save order %s: %w", o.ID, domain.ErrNotFound)
	case stored.HasApplied(eventID): // false for an empty eventID
		return fmt.Errorf("save order %s: event %s: %w", o.ID, eventID, domain.ErrAlreadyApplied)
	default:
		return fmt.Errorf("save order %s: stored version %d, expected %d: %w", o.ID, stored.Version, expectedVersion, domain.ErrConflict)
	}
}

// marshal turns an order into an item whose attribute names are the JSON
// names. Empty strings are dropped because DynamoDB rejects them as GSI keys
// (sellerId may be empty) and reading a missing attribute gives "" back;
// appliedEvents becomes a string set, or nothing when empty (an empty set is
// invalid).
// orderAttributes are the attributes orderflow owns: the JSON names of
// domain.Order. Save sets or removes exactly these, so attributes other
// services keep on the same item survive.
var orderAttributes = func() []string {
	var names []string
	t := reflect.TypeOf(domain.Order{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && name != attrID {
			names = append(names, name)
		}
	}
	return names
}()

// updateExpression turns a marshalled order into one UpdateItem: SET every
// attribute the order has, REMOVE the ones it no longer has (an emptied
// optional field). A PutItem would also drop attributes that orderflow does
// not know, which the playbook's OrdersTable may carry for other services.
func updateExpression(item map[string]types.AttributeValue) (string, map[string]string, map[string]types.AttributeValue) {
	names := make(map[string]string, len(orderAttributes)+2)
	values := make(map[string]types.AttributeValue, len(item)+2)
	var set, remove []string
	for i, attr := range orderAttributes {
		ref := fmt.Sprintf("#a%d", i)
		names[ref] = attr
		if v, ok := item[attr]; ok {
			val := fmt.Sprintf(":a%d", i)
			values[val] = v
			set = append(set, ref+" = "+val)
		} else {
			remove = append(remove, ref)
		}
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	return expr, names, values
}

func (s *Store) marshal(o domain.Order) (map[string]types.AttributeValue, error) {
	if o.Timeline == nil {
		o.Timeline = []domain.TimelineEntry{}
	}
	av, err := s.enc.Encode(o)
	if err != nil {
		return nil, fmt.Errorf("encode order: %w", err)
	}
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return nil, fmt.Errorf("encode order: got %T, want a map", av)
	}
	item := m.Value
	for k, v := range item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			if v.Value == "" {
				delete(item, k)
			}
		case *types.AttributeValueMemberNULL:
			delete(item, k)
		}
	}
	delete(item, attrAppliedEvents)
	set := make([]string, 0, len(o.AppliedEvents))
	for _, id := range o.AppliedEvents {
		if id != "" && !slices.Contains(set, id) {
			set = append(set, id)
		}
	}
	if len(set) > 0 {
		item[attrAppliedEvents] = &types.AttributeValueMemberSS{Value: set}
	}
	return item, nil
}

func (s *Store) unmarshal(item map[string]types.AttributeValue) (domain.Order, error) {
	var o domain.Order
	if err := s.dec.Decode(&types.AttributeValueMemberM{Value: item}, &o); err != nil {
		return domain.Order{}, fmt.Errorf("decode order: %w", err)
	}
	if o.Timeline == nil {
		o.Timeline = []domain.TimelineEntry{}
	}
	// A string set has no order; the timeline restores it so trimming
	// appliedEvents keeps the newest.
	o.SortAppliedEvents()
	return o, nil
}

// withRetryer makes a call use the store's retryer, replacing whatever
// retryer the client was built with, so exactly one layer retries.
func (s *Store) withRetryer(o *dynamodb.Options) { o.Retryer = s.retryer }
