package dynamo_test

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/dynamo"
	"github.com/orderflow/orderflow/infra/emulator"
)

func TestCreateTableMatchesSpec(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	ctx := testContext(t)
	// A second call finds the table and must leave it alone.
	if err := dynamo.CreateTable(ctx, b.client, b.table); err != nil {
		t.Fatalf("CreateTable again: %v", err)
	}
	out, err := b.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(b.table)})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	tbl := out.Table
	if tbl.TableStatus != types.TableStatusActive {
		t.Errorf("table status = %s, want ACTIVE", tbl.TableStatus)
	}
	if len(tbl.KeySchema) != 1 || aws.ToString(tbl.KeySchema[0].AttributeName) != "id" || tbl.KeySchema[0].KeyType != types.KeyTypeHash {
		t.Errorf("key schema = %+v, want id HASH", tbl.KeySchema)
	}
	if tbl.BillingModeSummary == nil || tbl.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode = %+v, want PAY_PER_REQUEST", tbl.BillingModeSummary)
	}
	want := map[string]string{
		"UserIndex": "userId", "SellerIndex": "sellerId",
		"PaymentIntentIndex": "stripePaymentIntentId", "StatusIndex": "status",
	}
	got := map[string]string{}
	for _, g := range tbl.GlobalSecondaryIndexes {
		if len(g.KeySchema) != 1 || g.KeySchema[0].KeyType != types.KeyTypeHash {
			t.Errorf("index %s key schema = %+v, want one HASH key", aws.ToString(g.IndexName), g.KeySchema)
			continue
		}
		if g.Projection == nil || g.Projection.ProjectionType != types.ProjectionTypeAll {
			t.Errorf("index %s projection = %+v, want ALL", aws.ToString(g.IndexName), g.Projection)
		}
		if g.IndexStatus != types.IndexStatusActive {
			t.Errorf("index %s status = %s, want ACTIVE", aws.ToString(g.IndexName), g.IndexStatus)
		}
		got[aws.ToString(g.IndexName)] = aws.ToString(g.KeySchema[0].AttributeName)
	}
	if !mapsEqual(got, want) {
		t.Errorf("indexes = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestItemAttributesOnTheWire(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	ctx := testContext(t)

	full := order("ord_full")
	failedAt := t0.Add(time.Minute)
	full.StripePaymentIntentID = "pi_1"
	full.StripeChargeID = "ch_1"
	full.PaymentFailedAt = &failedAt
	full.RequiresReview = true
	full.ReviewReason = domain.ReasonAmountMismatch
	full.AppliedEvents = []string{"evt_1", "evt_2"}
	full.Timeline = []domain.TimelineEntry{
		{Type: domain.EntryPaymentFailed, At: t0, Actor: "stripe", ActorType: "system", EventID: "evt_1", Meta: map[string]any{"code": "card_declined"}},
		{Type: domain.EntryReviewRequired, At: t0, Actor: "stripe", ActorType: "system", EventID: "evt_2", Meta: map[string]any{"reason": "amount_mismatch"}},
	}

	minimal := order("ord_min")
	minimal.SellerID = "" // optional: an empty string must not reach SellerIndex

	tests := []struct {
		name  string
		order domain.Order
		want  map[string]string // attribute → DynamoDB type
	}{
		{"full", full, map[string]string{
			"id": "S", "userId": "S", "sellerId": "S", "productId": "S", "amount": "N", "currency": "S",
			"status": "S", "paymentStatus": "S", "requiresReview": "BOOL", "reviewReason": "S",
			"stripePaymentIntentId": "S", "stripeChargeId": "S", "paymentFailedAt": "S", "timeline": "L",
			"createdAt": "S", "updatedAt": "S", "version": "N", "appliedEvents": "SS",
		}},
		{"minimal", minimal, map[string]string{
			"id": "S", "userId": "S", "productId": "S", "amount": "N", "currency": "S",
			"status": "S", "paymentStatus": "S", "requiresReview": "BOOL", "timeline": "L",
			"createdAt": "S", "updatedAt": "S", "version": "N",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.store.Create(ctx, tt.order); err != nil {
				t.Fatalf("Create: %v", err)
			}
			out, err := b.client.GetItem(ctx, &dynamodb.GetItemInput{
				TableName: aws.String(b.table), ConsistentRead: aws.Bool(true),
				Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: tt.order.ID}},
			})
			if err != nil {
				t.Fatalf("GetItem: %v", err)
			}
			got := map[string]string{}
			for k, v := range out.Item {
				got[k] = avType(v)
			}
			if !mapsEqual(got, tt.want) {
				t.Errorf("attributes = %v\nwant %v", got, tt.want)
			}
			for _, k := range []string{"createdAt", "updatedAt", "paymentFailedAt"} {
				s, ok := out.Item[k].(*types.AttributeValueMemberS)
				if !ok {
					continue
				}
				if _, err := time.Parse(time.RFC3339, s.Value); err != nil || !strings.HasSuffix(s.Value, "Z") {
					t.Errorf("%s = %q, want RFC 3339 UTC", k, s.Value)
				}
			}
			if ss, ok := out.Item["appliedEvents"].(*types.AttributeValueMemberSS); ok {
				got := slices.Clone(ss.Value)
				sort.Strings(got)
				if !slices.Equal(got, []string{"evt_1", "evt_2"}) {
					t.Errorf("appliedEvents = %v, want evt_1, evt_2", ss.Value)
				}
			}
			if l, ok := out.Item["timeline"].(*types.AttributeValueMemberL); ok && len(l.Value) > 0 {
				entry, ok := l.Value[0].(*types.AttributeValueMemberM)
				if !ok {
					t.Fatalf("timeline[0] is %T, want a map", l.Value[0])
				}
				var keys []string
				for k := range entry.Value {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				if want := []string{"actor", "actorType", "at", "eventId", "meta", "type"}; !slices.Equal(keys, want) {
					t.Errorf("timeline entry keys = %v, want %v", keys, want)
				}
			}

			back, err := b.store.Get(ctx, tt.order.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			assertSameOrder(t, back, tt.order)
		})
	}
}

func avType(v types.AttributeValue) string {
	switch v.(type) {
	case *types.AttributeValueMemberS:
		return "S"
	case *types.AttributeValueMemberN:
		return "N"
	case *types.AttributeValueMemberBOOL:
		return "BOOL"
	case *types.AttributeValueMemberSS:
		return "SS"
	case *types.AttributeValueMemberL:
		return "L"
	case *types.AttributeValueMemberM:
		return "M"
	case *types.AttributeValueMemberNULL:
		return "NULL"
	}
	return "?"
}

// assertSameOrder compares the fields a round trip must keep.
func assertSameOrder(t *testing.T, got, want domain.Order) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.SellerID != want.SellerID ||
		got.ProductID != want.ProductID || got.Amount != want.Amount || got.Currency != want.Currency ||
		got.Status != want.Status || got.PaymentStatus != want.PaymentStatus ||
		got.RequiresReview != want.RequiresReview || got.ReviewReason != want.ReviewReason ||
		got.StripePaymentIntentID != want.StripePaymentIntentID || got.StripeChargeID != want.StripeChargeID ||
		got.Version != want.Version || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if (got.PaymentFailedAt == nil) != (want.PaymentFailedAt == nil) ||
		(got.PaymentFailedAt != nil && !got.PaymentFailedAt.Equal(*want.PaymentFailedAt)) {
		t.Errorf("paymentFailedAt = %v, want %v", got.PaymentFailedAt, want.PaymentFailedAt)
	}
	if !slices.Equal(got.AppliedEvents, want.AppliedEvents) {
		t.Errorf("appliedEvents = %v, want %v (in applied order)", got.AppliedEvents, want.AppliedEvents)
	}
	if len(got.Timeline) != len(want.Timeline) {
		t.Fatalf("timeline has %d entries, want %d", len(got.Timeline), len(want.Timeline))
	}
	for i := range want.Timeline {
		g, w := got.Timeline[i], want.Timeline[i]
		if g.Type != w.Type || !g.At.Equal(w.At) || g.Actor != w.Actor || g.ActorType != w.ActorType ||
			g.ActorID != w.ActorID || g.EventID != w.EventID || len(g.Meta) != len(w.Meta) {
			t.Errorf("timeline[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestSaveOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	ctx := testContext(t)

	base := order("ord_save")
	base.AppliedEvents = []string{"evt_old"}
	base.Timeline = []domain.TimelineEntry{{Type: domain.EntryPaymentFailed, At: t0, Actor: "stripe", ActorType: "system", EventID: "evt_old"}}
	if err := b.store.Create(ctx, base); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := b.store.Create(ctx, base); !errors.Is(err, domain.ErrAlreadyExists) {
		t.Fatalf("second Create = %v, want ErrAlreadyExists", err)
	}

	next := base.Clone()
	next.Version = 2
	missing := order("ord_missing")
	missing.Version = 2
	tests := []struct {
		name     string
		order    domain.Order
		expected int64
		eventID  string
		want     error
	}{
		{"stale version", withVersion(next, 8), 7, "evt_new", domain.ErrConflict},
		{"event already applied", next, 1, "evt_old", domain.ErrAlreadyApplied},
		{"missing order", missing, 1, "evt_x", domain.ErrNotFound},
		{"version not above expected", next, 2, "evt_new", domain.ErrInvalid},
		{"applies", next, 1, "evt_new", nil},
		{"replayed event after apply", withVersion(next, 3), 2, "evt_new", domain.ErrAlreadyApplied},
		{"lost race after apply", next, 1, "", domain.ErrConflict},
	}
	for _, tt := range tests { // sequential: each case builds on the stored state
		err := b.store.Save(ctx, tt.order, tt.expected, tt.eventID)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Save = %v, want %v", tt.name, err, tt.want)
		}
	}
	got, err := b.store.Get(ctx, base.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Version != 2 || !slices.Contains(got.AppliedEvents, "evt_new") {
		t.Errorf("stored version %d appliedEvents %v, want version 2 holding evt_new", got.Version, got.AppliedEvents)
	}
	if _, err := b.store.Get(ctx, "ord_nope"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Get missing = %v, want ErrNotFound", err)
	}
}

func withVersion(o domain.Order, v int64) domain.Order {
	o.Version = v
	return o
}

func TestListUsesIndexesAndFilters(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.WarnLevel)
	b := setup(t, dynamo.Config{Logger: zap.New(core)})
	ctx := testContext(t)

	mk := func(id, user, seller, pi string, status domain.Status, review bool) domain.Order {
		o := order(id)
		o.UserID, o.SellerID, o.StripePaymentIntentID, o.Status, o.RequiresReview = user, seller, pi, status, review
		return o
	}
	for _, o := range []domain.Order{
		mk("o1", "u1", "s1", "pi_1", domain.StatusPending, false),
		mk("o2", "u1", "s2", "pi_2", domain.StatusCompleted, true),
		mk("o3", "u2", "s1", "", domain.StatusPending, true),
		mk("o4", "u3", "", "", domain.StatusRefunded, false),
	} {
		if err := b.store.Create(ctx, o); err != nil {
			t.Fatalf("Create %s: %v", o.ID, err)
		}
	}
	yes := true
	tests := []struct {
		name   string
		filter domain.Filter
		want   []string
	}{
		{"all", domain.Filter{}, []string{"o1", "o2", "o3", "o4"}},
		{"payment intent", domain.Filter{PaymentIntentID: "pi_2"}, []string{"o2"}},
		{"user", domain.Filter{UserID: "u1"}, []string{"o1", "o2"}},
		{"user and status", domain.Filter{UserID: "u1", Status: domain.StatusPending}, []string{"o1"}},
		{"seller", domain.Filter{SellerID: "s1"}, []string{"o1", "o3"}},
		{"status", domain.Filter{Status: domain.StatusPending}, []string{"o1", "o3"}},
		{"review only", domain.Filter{RequiresReview: &yes}, []string{"o2", "o3"}},
		{"status and review", domain.Filter{Status: domain.StatusPending, RequiresReview: &yes}, []string{"o3"}},
		{"no match", domain.Filter{UserID: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := b.store.List(ctx, tt.filter, func(o domain.Order) error {
				got = append(got, o.ID)
				return nil
			})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			sort.Strings(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%+v) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}

	stop := errors.New("stop")
	calls := 0
	err := b.store.List(ctx, domain.Filter{}, func(domain.Order) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List with failing callback = %v after %d calls, want the callback's error after 1", err, calls)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("a complete table logged %d warnings, want none: %v", n, logs.All())
	}
}

func TestListFallsBackToScanWhenIndexMissing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	client := newClient(emulator.Dynalite(t))
	table := emulator.TableName(t)

	in := dynamo.TableInput(table)
	in.GlobalSecondaryIndexes = slices.DeleteFunc(in.GlobalSecondaryIndexes, func(g types.GlobalSecondaryIndex) bool {
		return aws.ToString(g.IndexName) == dynamo.PaymentIntentIndex
	})
	in.AttributeDefinitions = slices.DeleteFunc(in.AttributeDefinitions, func(a types.AttributeDefinition) bool {
		return aws.ToString(a.AttributeName) == "stripePaymentIntentId"
	})
	if _, err := client.CreateTable(ctx, in); err != nil {
		t.Fatalf("CreateTable without PaymentIntentIndex: %v", err)
	}
	if err := dynamo.WaitActive(ctx, client, table); err != nil {
		t.Fatalf("WaitActive: %v", err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	store, err := dynamo.NewStore(client, dynamo.Config{Table: table, Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	for _, o := range []domain.Order{order("o1"), order("o2")} {
		o.StripePaymentIntentID = "pi_" + o.ID
		if err := store.Create(ctx, o); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}

	var got []string
	if err := store.List(ctx, domain.Filter{PaymentIntentID: "pi_o2"}, func(o domain.Order) error {
		got = append(got, o.ID)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.Equal(got, []string{"o2"}) {
		t.Errorf("List by payment intent = %v, want [o2]", got)
	}
	warnings := logs.FilterMessageSnippet(dynamo.PaymentIntentIndex).All()
	if len(warnings) != 1 {
		t.Fatalf("logged %d warnings naming %s, want 1: %v", len(warnings), dynamo.PaymentIntentIndex, logs.All())
	}
	if w := warnings[0]; w.Level != zapcore.WarnLevel || !strings.HasPrefix(w.Message, "[orders-index-warning]") {
		t.Errorf("warning = %s %q, want a warn starting with [orders-index-warning]", w.Level, w.Message)
	}

	// A lookup that must never scan (the download-access check) fails
	// instead, and logs no fallback.
	err = store.List(ctx, domain.Filter{PaymentIntentID: "pi_o2", IndexOnly: true}, func(domain.Order) error {
		t.Error("IndexOnly delivered an order without its index")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "never scans") {
		t.Errorf("IndexOnly without the index: err = %v, want a refusal", err)
	}
	if n := len(logs.FilterMessageSnippet(dynamo.PaymentIntentIndex).All()); n != 1 {
		t.Errorf("IndexOnly logged a fallback (%d warnings)", n)
	}
}

// TestListFollowsPages makes items big enough that a query and a scan need
// several 1 MB pages, and checks every order comes back exactly once.
func TestListFollowsPages(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	ctx := testContext(t)
	const n = 7 // 7 × ~300 KB needs at least three pages
	pad := strings.Repeat("x", 300<<10)
	for i := range n {
		o := order(fmt.Sprintf("big_%d", i))
		o.UserID = "u_big"
		o.Timeline = []domain.TimelineEntry{{Type: domain.EntryReviewCleared, At: t0, Actor: "admin", ActorType: "user", ActorID: "adm", Meta: map[string]any{"pad": pad}}}
		if err := b.store.Create(ctx, o); err != nil {
			t.Fatalf("Create %s: %v", o.ID, err)
		}
	}
	for _, f := range []domain.Filter{{UserID: "u_big"}, {}} {
		seen := map[string]int{}
		if err := b.store.List(ctx, f, func(o domain.Order) error { seen[o.ID]++; return nil }); err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		if len(seen) != n {
			t.Errorf("List(%+v) returned %d orders, want %d", f, len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("List(%+v) returned %s %d times", f, id, c)
			}
		}
	}
}

// TestSaveKeepsAttributesOfOtherServices: the OrdersTable is the store's, not
// only orderflow's; a Save must change only the order's own attributes.
func TestSaveKeepsAttributesOfOtherServices(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	ctx := testContext(t)
	o := order("ord_shared")
	o.StripeChargeID = "ch_1"
	if err := b.store.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	// Another service writes its own attribute on the same item.
	if _, err := b.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(b.table),
		Key:                       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: o.ID}},
		UpdateExpression:          aws.String("SET downloadCount = :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: "3"}},
	}); err != nil {
		t.Fatal(err)
	}
	next := o.Clone()
	next.Version = o.Version + 1
	next.Status = domain.StatusCompleted
	next.StripeChargeID = "" // an emptied optional field must disappear
	if err := b.store.Save(ctx, next, o.Version, "evt_1"); err != nil {
		t.Fatal(err)
	}
	out, err := b.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(b.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: o.ID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := out.Item["downloadCount"].(*types.AttributeValueMemberN); !ok || n.Value != "3" {
		t.Fatalf("downloadCount = %#v, want the other service's 3 kept", out.Item["downloadCount"])
	}
	if _, ok := out.Item["stripeChargeId"]; ok {
		t.Fatal("stripeChargeId still stored after it was emptied")
	}
	if s, ok := out.Item["status"].(*types.AttributeValueMemberS); !ok || s.Value != "completed" {
		t.Fatalf("status = %#v", out.Item["status"])
	}
	got, err := b.store.Get(ctx, o.ID)
	if err != nil || got.Version != next.Version || !got.HasApplied("evt_1") {
		t.Fatalf("Get after Save: %+v, %v", got, err)
	}
}
