package workers_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/dynamo"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/sqlite"
	"github.com/orderflow/orderflow/workers"
)

// accessStores opens each backend's store for the access tests: SQLite, and
// DynamoDB on dynalite with a logger that sees index fallbacks.
func accessStores(t *testing.T) map[string]func(t *testing.T) (domain.Store, *observer.ObservedLogs) {
	return map[string]func(t *testing.T) (domain.Store, *observer.ObservedLogs){
		"sqlite": func(t *testing.T) (domain.Store, *observer.ObservedLogs) {
			db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "of.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			_, logs := observer.New(zap.DebugLevel)
			return sqlite.NewStore(db), logs
		},
		"dynalite": func(t *testing.T) (domain.Store, *observer.ObservedLogs) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			client := dynamodb.NewFromConfig(emulator.AWSConfig(emulator.Dynalite(t)))
			table := emulator.TableName(t)
			if err := dynamo.CreateTable(ctx, client, table); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zap.DebugLevel)
			s, err := dynamo.NewStore(client, dynamo.Config{Table: table, Logger: zap.New(core)})
			if err != nil {
				t.Fatal(err)
			}
			return s, logs
		},
	}
}

func TestAccessCheck(t *testing.T) {
	t.Parallel()
	for name, open := range accessStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			inner, logs := open(t)
			store := &recordingStore{Store: inner}
			put := func(id, user, product string, status domain.Status, review bool, at time.Time) {
				t.Helper()
				o, err := domain.NewOrder(domain.Order{ID: id, UserID: user, SellerID: "s_1", ProductID: product, Amount: 100, Currency: "usd"}, at)
				if err != nil {
					t.Fatal(err)
				}
				o.Status, o.RequiresReview = status, review
				if review {
					o.ReviewReason = domain.ReasonAmountMismatch
				}
				if err := store.Create(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			put("ord_ok2", "u_ok", "p_1", domain.StatusCompleted, false, epoch.Add(time.Hour))
			put("ord_ok1", "u_ok", "p_1", domain.StatusCompleted, false, epoch)
			put("ord_other", "u_ok", "p_2", domain.StatusCompleted, true, epoch) // another product's flag
			put("ord_f1", "u_flag", "p_1", domain.StatusCompleted, false, epoch)
			put("ord_f3", "u_flag", "p_1", domain.StatusCompleted, true, epoch)
			put("ord_f2", "u_flag", "p_1", domain.StatusCompleted, true, epoch)
			put("ord_pending", "u_none", "p_1", domain.StatusPending, false, epoch)
			put("ord_refunded", "u_none", "p_1", domain.StatusRefunded, false, epoch)
			put("ord_cancelled", "u_none", "p_1", domain.StatusCancelled, true, epoch)
			put("ord_someone", "u_else", "p_1", domain.StatusCompleted, false, epoch)

			check := workers.AccessChecker{Store: store}
			tests := []struct {
				user, product string
				want          workers.AccessDecision
			}{
				{"u_ok", "p_1", workers.AccessDecision{Allowed: true, OrderID: "ord_ok1", HTTPStatus: http.StatusOK}},
				{"u_flag", "p_1", workers.AccessDecision{Reason: "requires_review", OrderIDs: []string{"ord_f2", "ord_f3"}, HTTPStatus: http.StatusLocked}},
				{"u_none", "p_1", workers.AccessDecision{Reason: "no_order", HTTPStatus: http.StatusForbidden}},
				{"u_ok", "p_3", workers.AccessDecision{Reason: "no_order", HTTPStatus: http.StatusForbidden}},
				{"u_nobody", "p_1", workers.AccessDecision{Reason: "no_order", HTTPStatus: http.StatusForbidden}},
			}
			for _, tt := range tests {
				got, err := check.Check(ctx, tt.user, tt.product)
				if err != nil || !equalDecision(got, tt.want) {
					t.Errorf("Check(%s, %s) = %+v, %v; want %+v", tt.user, tt.product, got, err, tt.want)
				}
			}
			for _, f := range store.Filters() {
				if f.UserID == "" || f.Status != domain.StatusCompleted {
					t.Errorf("listed with %+v, want UserIndex with status completed", f)
				}
			}
			if n := logs.FilterMessageSnippet(dynamo.IndexWarning).Len(); n != 0 {
				t.Errorf("%d index fallbacks: the check scanned", n)
			}

			listed := len(store.Filters())
			off := workers.AccessChecker{Store: store, Disabled: true}
			got, err := off.Check(ctx, "u_ok", "p_1")
			if err != nil || !equalDecision(got, workers.AccessDecision{Reason: "downloads_disabled", HTTPStatus: http.StatusForbidden}) {
				t.Errorf("kill switch: %+v, %v", got, err)
			}
			if len(store.Filters()) != listed {
				t.Error("the kill switch still read the store")
			}
			t.Run("http", func(t *testing.T) {
				srv := httptest.NewServer(check)
				defer srv.Close()
				killed := httptest.NewServer(off)
				defer killed.Close()
				for _, tt := range []struct {
					base, query string
					status      int
					body        string
				}{
					{srv.URL, "userId=u_ok&productId=p_1", 200, `{"allowed":true,"orderId":"ord_ok1"}`},
					{srv.URL, "userId=u_flag&productId=p_1", 423, `{"allowed":false,"reason":"requires_review","orderIds":["ord_f2","ord_f3"]}`},
					{srv.URL, "userId=u_none&productId=p_1", 403, `{"allowed":false,"reason":"no_order"}`},
					{killed.URL, "userId=u_ok&productId=p_1", 403, `{"allowed":false,"reason":"downloads_disabled"}`},
					{srv.URL, "userId=u_ok", 400, `{"error":{"code":"invalid_request","message":"userId and productId are required"}}`},
				} {
					resp, err := http.Get(tt.base + "/v1/access?" + tt.query)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tt.status || strings.TrimSpace(string(body)) != tt.body || resp.Header.Get("Content-Type") != "application/json" {
						t.Errorf("GET ?%s = %d %s, want %d %s", tt.query, resp.StatusCode, body, tt.status, tt.body)
					}
				}
				resp, err := http.Post(srv.URL+"/v1/access?userId=u_ok&productId=p_1", "text/plain", nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("POST = %d, want 405", resp.StatusCode)
				}
			})
			for _, args := range [][2]string{{"", "p_1"}, {"u_ok", " "}} {
				if _, err := check.Check(ctx, args[0], args[1]); !errors.Is(err, domain.ErrInvalid) {
					t.Errorf("Check(%q, %q): err = %v, want ErrInvalid", args[0], args[1], err)
				}
			}
		})
	}
}

func equalDecision(a, b workers.AccessDecision) bool {
	return a.Allowed == b.Allowed && a.Reason == b.Reason && a.OrderID == b.OrderID &&
		slices.Equal(a.OrderIDs, b.OrderIDs) && a.HTTPStatus == b.HTTPStatus
}

func TestAccessDecisionJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    workers.AccessDecision
		want string
	}{
		{workers.AccessDecision{Allowed: true, OrderID: "ord_1", HTTPStatus: 200}, `{"allowed":true,"orderId":"ord_1"}`},
		{workers.AccessDecision{Reason: "requires_review", OrderIDs: []string{"ord_1"}, HTTPStatus: 423}, `{"allowed":false,"reason":"requires_review","orderIds":["ord_1"]}`},
		{workers.AccessDecision{Reason: "no_order", HTTPStatus: 403}, `{"allowed":false,"reason":"no_order"}`},
		{workers.AccessDecision{Reason: "downloads_disabled", HTTPStatus: 403}, `{"allowed":false,"reason":"downloads_disabled"}`},
	} {
		b, err := json.Marshal(tt.d)
		if err != nil || strings.TrimSpace(string(b)) != tt.want {
			t.Errorf("%+v marshals to %s, want %s", tt.d, b, tt.want)
		}
	}
}
