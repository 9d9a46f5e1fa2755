package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
)

// callbackError carries the caller's own error out of a page loop, so it is
// returned as is and never mistaken for an index failure.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// List calls fn for every order that matches f. It queries the GSI of the
// most selective field set (payment intent, user, seller, status) and checks
// the other fields itself; with no indexed field it scans. GSIs are
// eventually consistent, which listing accepts. When the index cannot answer
// it logs an IndexWarning and falls back to a filtered scan, skipping orders
// the query already delivered.
func (s *Store) List(ctx context.Context, f domain.Filter, fn func(domain.Order) error) error {
	index, value := pickIndex(f)
	delivered := map[string]bool{}
	err := error(nil)
	if index != "" {
		err = s.query(ctx, index, value, f, delivered, fn)
		if err == nil {
			return nil
		}
		var cb callbackError
		if errors.As(err, &cb) {
			return cb.err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("list orders: %w", ctx.Err())
		}
		if f.IndexOnly {
			return fmt.Errorf("list orders: index %s cannot answer and this lookup never scans: %w", index, err)
		}
		s.log.Warn(fmt.Sprintf("%s index %s on table %s cannot answer, falling back to a filtered scan: %v", IndexWarning, index, s.table, err),
			zap.String("index", index), zap.String("table", s.table), zap.Error(err))
	}
	err = s.scan(ctx, f, delivered, fn)
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	if err != nil {
		return fmt.Errorf("list orders: %w", err)
	}
	return nil
}

// pickIndex chooses the GSI of the most selective field set in f.
func pickIndex(f domain.Filter) (index, value string) {
	switch {
	case f.PaymentIntentID != "":
		return PaymentIntentIndex, f.PaymentIntentID
	case f.UserID != "":
		return UserIndex, f.UserID
	case f.SellerID != "":
		return SellerIndex, f.SellerID
	case f.Status != "":
		return StatusIndex, string(f.Status)
	}
	return "", ""
}

func (s *Store) query(ctx context.Context, index, value string, f domain.Filter, delivered map[string]bool, fn func(domain.Order) error) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String("#k = :v"),
		ExpressionAttributeNames:  map[string]string{"#k": indexKeys[index]},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: value}},
	}
	for {
		out, err := s.client.Query(ctx, in, s.withRetryer)
		if err != nil {
			return fmt.Errorf("query %s: %w", index, err)
		}
		if err := s.deliver(out.Items, f, delivered, fn); err != nil {
			return err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// scan reads the whole table with strongly consistent pages, letting DynamoDB
// drop non-matching items (FilterExpression) to save bandwidth.
func (s *Store) scan(ctx context.Context, f domain.Filter, delivered map[string]bool, fn func(domain.Order) error) error {
	in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true)}
	if expr, names, values := filterExpression(f); expr != "" {
		in.FilterExpression = aws.String(expr)
		in.ExpressionAttributeNames = names
		in.ExpressionAttributeValues = values
	}
	for {
		out, err := s.client.Scan(ctx, in, s.withRetryer)
		if err != nil {
			return fmt.Errorf("scan %s: %w", s.table, err)
		}
		if err := s.deliver(out.Items, f, delivered, fn); err != nil {
			return err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// deliver decodes a page and calls fn for each matching order not delivered
// before. Match is applied even after a FilterExpression: it is the one
// definition of a match, shared with the other stores.
func (s *Store) deliver(items []map[string]types.AttributeValue, f domain.Filter, delivered map[string]bool, fn func(domain.Order) error) error {
	for _, item := range items {
		o, err := s.unmarshal(item)
		if err != nil {
			return err
		}
		if delivered[o.ID] || !f.Match(o) {
			continue
		}
		delivered[o.ID] = true
		if err := fn(o); err != nil {
			return callbackError{err: err}
		}
	}
	return nil
}

// filterExpression turns every set field of f into a scan filter.
func filterExpression(f domain.Filter) (string, map[string]string, map[string]types.AttributeValue) {
	var parts []string
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	add := func(ph, attr string, v types.AttributeValue) {
		parts = append(parts, fmt.Sprintf("#%s = :%s", ph, ph))
		names["#"+ph] = attr
		values[":"+ph] = v
	}
	if f.PaymentIntentID != "" {
		add("pi", attrPaymentIntent, &types.AttributeValueMemberS{Value: f.PaymentIntentID})
	}
	if f.UserID != "" {
		add("user", attrUserID, &types.AttributeValueMemberS{Value: f.UserID})
	}
	if f.SellerID != "" {
		add("seller", attrSellerID, &types.AttributeValueMemberS{Value: f.SellerID})
	}
	if f.Status != "" {
		add("status", attrStatus, &types.AttributeValueMemberS{Value: string(f.Status)})
	}
	if f.RequiresReview != nil {
		add("review", attrRequiresReview, &types.AttributeValueMemberBOOL{Value: *f.RequiresReview})
	}
	if f.OtherPaymentIntentID != "" {
		// The scan still reads (and is billed for) every item; the filter
		// only keeps the others off the wire.
		parts = append(parts, "contains(#other, :other)")
		names["#other"] = "otherPaymentIntentIds"
		values[":other"] = &types.AttributeValueMemberS{Value: f.OtherPaymentIntentID}
	}
	if len(parts) == 0 {
		return "", nil, nil
	}
	return strings.Join(parts, " AND "), names, values
}
