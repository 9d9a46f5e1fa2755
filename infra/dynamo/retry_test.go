package dynamo_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/dynamo"
)

// faultProxy forwards to dynalite after answering the first `fail` requests
// with a canned DynamoDB error, as the real service does when throttling.
type faultProxy struct {
	mu       sync.Mutex
	fail     int // requests still to fail; negative fails forever
	status   int
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

// TestStoreRetriesThrottlingAndServerErrors runs the store through a proxy
// with the SDK's retryer turned off, so every retry the proxy counts is ours.
func TestStoreRetriesThrottlingAndServerErrors(t *testing.T) {
	t.Parallel()
	const faults = 3
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"provisioned throughput exceeded", http.StatusBadRequest, errBody("ProvisionedThroughputExceededException")},
		{"throttling", http.StatusBadRequest, errBody("ThrottlingException")},
		{"request limit exceeded", http.StatusBadRequest, errBody("RequestLimitExceeded")},
		{"internal server error", http.StatusInternalServerError, errBody("InternalServerError")},
		{"service unavailable", http.StatusServiceUnavailable, errBody("ServiceUnavailable")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, dynamo.Config{})
			ctx := testContext(t)
			proxy := &faultProxy{fail: faults, status: tt.status, body: tt.body}
			client := newClient(startFaultProxy(t, endpointOf(b.client), proxy), func(o *dynamodb.Options) {
				o.Retryer = aws.NopRetryer{}
			})
			store, err := dynamo.NewStore(client, dynamo.Config{Table: b.table, RetryBudget: time.Minute})
			if err != nil {
				t.Fatalf("NewStore: %v", err)
			}
			if err := store.Create(ctx, order("ord_retry")); err != nil {
				t.Fatalf("Create through %d faults: %v", faults, err)
			}
			requests, got := proxy.counts()
			if got != faults || requests != faults+1 {
				t.Errorf("proxy saw %d requests, %d faults; want %d and %d", requests, got, faults+1, faults)
			}
			if _, err := b.store.Get(ctx, "ord_retry"); err != nil {
				t.Errorf("order not stored after retries: %v", err)
			}
		})
	}
}

func TestStoreGivesUpAfterRetryBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	ctx := testContext(t)
	proxy := &faultProxy{fail: -1, status: http.StatusBadRequest, body: errBody("ProvisionedThroughputExceededException")}
	client := newClient(startFaultProxy(t, endpointOf(b.client), proxy), func(o *dynamodb.Options) {
		o.Retryer = aws.NopRetryer{}
	})
	store, err := dynamo.NewStore(client, dynamo.Config{Table: b.table, RetryBudget: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	_, err = store.Get(ctx, "ord_any")
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ProvisionedThroughputExceededException" {
		t.Fatalf("Get under endless throttling = %v, want the throttling error", err)
	}
	if errors.Is(err, domain.ErrNotFound) {
		t.Errorf("throttling reported as not found: %v", err)
	}
	if requests, _ := proxy.counts(); requests < 2 {
		t.Errorf("proxy saw %d requests, want retries", requests)
	}
}

func TestStoreDoesNotRetryOtherErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, dynamo.Config{})
	ctx := testContext(t)
	proxy := &faultProxy{fail: -1, status: http.StatusBadRequest, body: errBody("ValidationException")}
	client := newClient(startFaultProxy(t, endpointOf(b.client), proxy), func(o *dynamodb.Options) {
		o.Retryer = aws.NopRetryer{}
	})
	store, err := dynamo.NewStore(client, dynamo.Config{Table: b.table, RetryBudget: time.Minute})
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

func endpointOf(c *dynamodb.Client) string { return aws.ToString(c.Options().BaseEndpoint) }
