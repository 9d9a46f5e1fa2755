package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/sqlite"
)

// event is one signed webhook delivery: payment_intent.succeeded for one
// pending order.
type event struct {
	orderID string
	eventID string
	body    []byte
	sig     string // the Stripe-Signature header
}

// orderAmount matches the fixture's amount, so the fraud check passes.
const orderAmount = 2000

// createWorkers is how many Store.Create calls run at once: one per pooled
// connection of the store.
const createWorkers = 4

// maker creates orders and the events that pay them. Order ids are numbered
// in creation order and zero-padded, so they sort the way they were sent and
// the lag watcher can read a range of them.
type maker struct {
	template string
	secret   string
	run      string // random, so event ids differ between runs
	store    *sqlite.Store
	next     int
}

func newMaker(root, secret string, store *sqlite.Store) (*maker, error) {
	b, err := os.ReadFile(filepath.Join(root, "testdata", "events", "payment_intent.succeeded.json"))
	if err != nil {
		return nil, fmt.Errorf("read the event fixture: %w", err)
	}
	return &maker{template: string(b), secret: secret, run: randomHex(4), store: store}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// orderID is the id of the i-th order of the run.
func orderID(i int) string { return fmt.Sprintf("ord_%09d", i) }

// orderIndex is orderID's inverse; -1 for an id it did not make.
func orderIndex(id string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "ord_"))
	if err != nil || !strings.HasPrefix(id, "ord_") {
		return -1
	}
	return n
}

// unsigned returns n events for orders not created yet; events that only go
// to the bare handler need no order.
func (m *maker) unsigned(n int) (first int, evs []event) {
	first = m.next
	m.next += n
	evs = make([]event, n)
	created := strconv.FormatInt(time.Now().Unix(), 10)
	for i := range evs {
		idx := first + i
		tag := fmt.Sprintf("load_%s_%09d", m.run, idx)
		evs[i] = event{orderID: orderID(idx), eventID: "evt_" + tag}
		evs[i].body = []byte(strings.NewReplacer(
			"evt_fixture_pi_succeeded", evs[i].eventID,
			"ord_fixture", evs[i].orderID,
			"pi_fixture", "pi_"+tag,
			"ch_fixture", "ch_"+tag,
			`"created": 1700000000`, `"created": `+created,
		).Replace(m.template))
	}
	return first, evs
}

// withOrders makes n events and creates the pending order each one pays,
// through the store, as checkout would have before the payment.
func (m *maker) withOrders(ctx context.Context, n int, progress func(done int)) (first int, evs []event, err error) {
	first, evs = m.unsigned(n)
	now := time.Now()
	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(createWorkers)
	for i := range evs {
		ev := &evs[i]
		g.Go(func() error {
			o, err := domain.NewOrder(domain.Order{
				ID: ev.orderID, UserID: "usr_load", SellerID: "sel_load", ProductID: "prd_load",
				Amount: orderAmount, Currency: "usd",
				StripePaymentIntentID: "pi_" + strings.TrimPrefix(ev.eventID, "evt_"),
			}, now)
			if err == nil {
				err = m.store.Create(gctx, o)
			}
			if err != nil {
				return fmt.Errorf("create order %s: %w", ev.orderID, err)
			}
			mu.Lock()
			done++
			progress(done)
			mu.Unlock()
			return nil
		})
	}
	return first, evs, g.Wait()
}

// sign signs every event now, before the phase's clock starts: the
// timestamps stay well inside the ingress's 300 s tolerance.
func (m *maker) sign(evs []event) {
	now := time.Now()
	for i := range evs {
		evs[i].sig = webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
			Payload: evs[i].body, Secret: m.secret, Timestamp: now,
		}).Header
	}
}
