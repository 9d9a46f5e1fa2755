package stripeapi_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/infra/stripeapi"
)

const testKey = "sk_test_stripeapi_0123456789"

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// now is after the fixtures' created time (1700000000) by less than 30 days.
var now = fixedClock(time.Unix(1700000000, 0).Add(72 * time.Hour).UTC())

func newClient(t *testing.T, base, key string) *stripeapi.Client {
	t.Helper()
	c, err := stripeapi.New(stripeapi.Config{BaseURL: base, Keys: secrets.NewStatic(key, ""), Clock: now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// event makes a fixture event with its own id and created time.
func event(t *testing.T, id string, created int64) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", "payment_intent.succeeded.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(raw), "evt_fixture_pi_succeeded", id, 1)
	s = strings.Replace(s, `"created": 1700000000`, fmt.Sprintf(`"created": %d`, created), 1)
	return []byte(s)
}

func TestAgainstStripeMock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, emulator.StripeMock(t), "sk_test_123")
	raw, err := c.GetEvent(ctx, "evt_mock_1")
	if err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	if ev, err := domain.ParseEvent(raw); err != nil || ev.ID != "evt_mock_1" {
		t.Fatalf("GetEvent returned %.80s… (%v)", raw, err)
	}
	// stripe-mock validates parameters against the OpenAPI spec, so a wrong
	// name for delivery_success or created[gte] fails here.
	n := 0
	err = c.ListUndelivered(ctx, now.Now().Add(-72*time.Hour), func(raw []byte) error {
		if _, err := domain.ParseEvent(raw); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("ListUndelivered: %d events, %v", n, err)
	}
}

func TestAgainstStandIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := int64(1700000000)
	var events []emulator.StripeEvent
	want := map[string]bool{}
	for i := range 230 {
		id := fmt.Sprintf("evt_page_%03d", i)
		delivered := i%10 == 0
		created := base + int64(i)
		events = append(events, emulator.StripeEvent{Raw: event(t, id, created), Delivered: delivered})
		if !delivered && i >= 5 {
			want[id] = true
		}
	}
	srv := emulator.StripeEvents(t, events...)
	c := newClient(t, srv.URL, testKey)

	t.Run("get", func(t *testing.T) {
		raw, err := c.GetEvent(ctx, "evt_page_007")
		if err != nil || string(raw) != string(event(t, "evt_page_007", base+7)) {
			t.Fatalf("GetEvent: %v, bytes equal %v", err, string(raw) == string(event(t, "evt_page_007", base+7)))
		}
	})
	t.Run("unknown event", func(t *testing.T) {
		_, err := c.GetEvent(ctx, "evt_missing")
		if !errors.Is(err, domain.ErrNotFound) || !strings.Contains(err.Error(), "evt_missing") {
			t.Fatalf("err = %v, want ErrNotFound naming the event", err)
		}
	})
	t.Run("list pages", func(t *testing.T) {
		got := map[string]bool{}
		err := c.ListUndelivered(ctx, time.Unix(base+5, 0), func(raw []byte) error {
			ev, err := domain.ParseEvent(raw)
			if err != nil {
				return err
			}
			if got[ev.ID] {
				return fmt.Errorf("event %s listed twice", ev.ID)
			}
			got[ev.ID] = true
			return nil
		})
		if err != nil {
			t.Fatalf("ListUndelivered: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("listed %d events, want %d", len(got), len(want))
		}
		for id := range want {
			if !got[id] {
				t.Fatalf("event %s not listed", id)
			}
		}
		pages := 0
		for _, r := range srv.Requests() {
			if strings.HasPrefix(r, "GET /v1/events?") {
				pages++
				if !strings.Contains(r, "delivery_success=false") || !strings.Contains(r, "created[gte]=") {
					t.Errorf("list request %s lacks the filters", r)
				}
			}
		}
		if pages < 2 {
			t.Fatalf("%d list requests; want pagination", pages)
		}
	})
	t.Run("fn error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := c.ListUndelivered(ctx, time.Unix(base, 0), func([]byte) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("err = %v after %d calls", err, n)
		}
	})
	t.Run("window", func(t *testing.T) {
		for _, since := range []time.Time{now.Now().Add(-stripeapi.MaxEventAge - time.Minute), now.Now().Add(time.Hour)} {
			err := c.ListUndelivered(ctx, since, func([]byte) error { return nil })
			if !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("since %s: err = %v, want ErrInvalid", since, err)
			}
		}
	})
}

func TestErrorsNeverCarryTheKey(t *testing.T) {
	t.Parallel()
	srv := emulator.StripeEvents(t)
	// The stand-in rejects keys that do not look like sk_/rk_ with 401.
	c := newClient(t, srv.URL, "whsec_not_a_key_but_secret")
	_, err := c.GetEvent(context.Background(), "evt_1")
	if err == nil || strings.Contains(err.Error(), "not_a_key_but_secret") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v", err)
	}
	if _, err := stripeapi.New(stripeapi.Config{BaseURL: "ftp://x"}); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("bad config: err = %v", err)
	}
}
