package dynamo_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/dynamo"
)

// faultProxy is a local stand-in for DynamoDB: it counts every HTTP request
// and answers the first `fail` of them with a canned DynamoDB error, as the
// real service does when throttling, or drops the connection (status 0, a
// network error); the others it forwards to dynalite.
type faultProxy struct {
	mu       sync.Mutex
	fail     int // requests still to fail; negative fails forever
	status   int // 0: close the connection without an answer
	body     string
	requests int
	faults   int
}

func (p *faultProxy) counts() (requests, faults int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, p.faults
}

func startFaultProxy(t *testing.T, target string, p *faultProxy) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("parse %s: %v", target, err)
	}
	forward := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests++
		fault := p.fail != 0
		if fault {
			p.faults++
			if p.fail > 0 {
				p.fail--
			}
		}
		p.mu.Unlock()
		if !fault {
			forward.ServeHTTP(w, r)
			return
		}
		if p.status == 0 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-RequestId", "fault-proxy")
		w.WriteHeader(p.status)
		fmt.Fprint(w, p.body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func errBody(code string) string {
	return fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by the test proxy"}`, code)
}

// faultCases are the failures the SDK's retryer must retry: DynamoDB's
// throttling codes, 5xx answers and a dropped connection.
var faultCases = []struct {
	name   string
	status int
	body   string
}{
	{"throttling", http.StatusBadRequest, errBody("ThrottlingException")},
	{"provisioned throughput exceeded", http.StatusBadRequest, errBody("ProvisionedThroughputExceededException")},
	{"request limit exceeded", http.StatusBadRequest, errBody("RequestLimitExceeded")},
	{"internal server error", http.StatusInternalServerError, errBody("InternalServerError")},
	{"service unavailable", http.StatusServiceUnavailable, errBody("ServiceUnavailable")},
	{"connection dropped", 0, ""},
}

// fastRetries keeps the tests quick: the waits between attempts are capped
// at a few milliseconds; the number of attempts is what is under test.
const fastRetries = 5 * time.Millisecond

// TestStoreAttemptsBoundedUnderThrottling is issue 12's "one retry layer per
// call": under endless throttling (or 5xx, or dropped connections) a call
// makes exactly MaxAttempts HTTP requests, the SDK retryer's bound, and no
// loop of the store multiplies them. The client is built with the SDK's
// default retryer (3 attempts), which the store's retryer replaces.
func TestStoreAttemptsBoundedUnderThrottling(t *testing.T) {
	t.Parallel()
	const maxAttempts = 5
	for _, tt := range faultCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, dynamo.Config{})
			ctx := testContext(t)
			proxy := &faultProxy{fail: -1, status: tt.status, body: tt.body}
			client := newClient(startFaultProxy(t, endpointOf(b.client), proxy))
			store, err := dynamo.NewStore(client, dynamo.Config{Table: b.table, MaxAttempts: maxAttempts, MaxBackoff: fastRetries})
			if err != nil {
				t.Fatalf("NewStore: %v", err)
			}
			_, err = store.Get(ctx, "ord_any")
			if err == nil || errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("Get under endless faults = %v, want the fault", err)
			}
			if tt.status != 0 {
				var api smithy.APIError
				if !errors.As(err, &api) || !strings.Contains(tt.body, api.ErrorCode()) {
					t.Errorf("Get = %v, want the %s error", err, tt.name)
				}
			}
			if requests, _ := proxy.counts(); requests != maxAttempts {
				t.Errorf("proxy saw %d requests for one Get, want exactly %d (the SDK retryer's MaxAttempts)", requests, maxAttempts)
			}
		})
	}
}

// TestStoreRecoversWithinAttempts: faults that end before the attempts run
// out are invisible to the caller.
func TestStoreRecoversWithinAttempts(t *testing.T) {
	t.Parallel()
	const faults = 3
	for _, tt := range faultCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, dynamo.Config{})
			ctx := testContext(t)
			proxy := &faultProxy{fail: faults, status: tt.status, body: tt.body}
			client := newClient(startFaultProxy(t, endpointOf(b.client), proxy))
			store, err := dynamo.NewStore(client, dynamo.Config{Table: b.table, MaxAttempts: faults + 1, MaxBackoff: fastRetries})
			if err != nil {
				t.Fatalf("NewStore: %v", err)
			}
			if err := store.Create(ctx, order("ord_retry")); err != nil {
				t.Fatalf("Create through %d faults: %v", faults, err)
			}
			if requests, got := proxy.counts(); got != faults || requests != faults+1 {
				t.Errorf("proxy saw %d requests, %d faults; want %d and %d", requests, got, faults+1, faults)
			}
			if _, err := b.store.Get(ctx, "ord_retry"); err != nil {
				t.Errorf("order not stored after retries: %v", err)
			}
		})
	}
}

// TestStoreDefaultAttempts: without MaxAttempts a throttled call makes
// DefaultMaxAttempts requests.
func TestStoreDefaultAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	proxy := &faultProxy{fail: -1, status: http.StatusBadRequest, body: errBody("ThrottlingException")}
	client := newClient(startFaultProxy(t, endpointOf(b.client), proxy))
	store, err := dynamo.NewStore(client, dynamo.Config{Table: b.table, MaxBackoff: fastRetries})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	var seen int
	err = store.List(testContext(t), domain.Filter{UserID: "user_1"}, func(domain.Order) error { seen++; return nil })
	if err == nil {
		t.Fatal("List under endless throttling succeeded")
	}
	// The query fails after its attempts, then the scan fallback after its own.
	if requests, _ := proxy.counts(); requests != 2*dynamo.DefaultMaxAttempts {
		t.Errorf("proxy saw %d requests for a query and its scan fallback, want 2 x %d", requests, dynamo.DefaultMaxAttempts)
	}
}

func TestStoreDoesNotRetryOtherErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	ctx := testContext(t)
	proxy := &faultProxy{fail: -1, status: http.StatusBadRequest, body: errBody("ValidationException")}
	client := newClient(startFaultProxy(t, endpointOf(b.client), proxy))
	store, err := dynamo.NewStore(client, dynamo.Config{Table: b.table, MaxBackoff: fastRetries})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	if err := store.Create(ctx, order("ord_bad")); err == nil {
		t.Fatal("Create through a ValidationException succeeded")
	}
	if requests, _ := proxy.counts(); requests != 1 {
		t.Errorf("proxy saw %d requests, want 1: a validation error is not worth retrying", requests)
	}
}

// TestStoreDoesNotRetryLostRaces: a failed condition is the optimistic lock
// at work, not a fault; the store answers ErrConflict after one UpdateItem
// (and the consistent re-read that tells the cases apart), and the caller
// re-reads and re-applies (domain.Update).
func TestStoreDoesNotRetryLostRaces(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	ctx := testContext(t)
	o := order("ord_race")
	if err := b.store.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	proxy := &faultProxy{}
	client := newClient(startFaultProxy(t, endpointOf(b.client), proxy))
	store, err := dynamo.NewStore(client, dynamo.Config{Table: b.table, MaxBackoff: fastRetries})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	stale := o
	stale.Version = o.Version + 2
	err = store.Save(ctx, stale, o.Version+1, "")
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("Save with a stale expected version = %v, want domain.ErrConflict", err)
	}
	if requests, _ := proxy.counts(); requests != 2 {
		t.Errorf("proxy saw %d requests, want 2: one UpdateItem and one re-read", requests)
	}
}

func TestNewStoreRejectsNegativeRetrySettings(t *testing.T) {
	t.Parallel()
	client := newClient("http://127.0.0.1:1")
	for _, cfg := range []dynamo.Config{
		{Table: "t", MaxAttempts: -1},
		{Table: "t", MaxBackoff: -time.Second},
	} {
		if _, err := dynamo.NewStore(client, cfg); err == nil {
			t.Errorf("NewStore(%+v) accepted a negative setting", cfg)
		}
	}
}

func endpointOf(c *dynamodb.Client) string { return aws.ToString(c.Options().BaseEndpoint) }
