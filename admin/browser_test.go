package admin_test

// Browser tests: the console driven in headless Chromium with chromedp, as an
// operator uses it, with no JavaScript of the console's own (there is none)
// and nothing fetched from anywhere but the console itself.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
)

// chromiumPath is Debian's chromium, which `make test` installs.
const chromiumPath = "/usr/bin/chromium"

// screenshotsEnv set to 1 writes the screenshots to testdata/console (make
// console-screenshots); otherwise they go to a temporary folder.
const screenshotsEnv = "ORDERFLOW_CONSOLE_SCREENSHOTS"

// chromium starts a headless Chromium for t and returns its context; the
// browser records every URL it requests.
func chromium(t *testing.T) (context.Context, *[]string) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("headless Chromium is missing (%s): `make test` installs it (apt-get install -y chromium)", chromiumPath)
	}
	// Not t.TempDir: Chromium may still write its profile for a moment after
	// it is killed, which would fail the test in TempDir's cleanup.
	profile, err := os.MkdirTemp("", "orderflow-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 860),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	var mu sync.Mutex
	requested := &[]string{}
	chromedp.ListenTarget(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			*requested = append(*requested, e.Request.URL)
			mu.Unlock()
		}
	})
	if err := chromedp.Run(bctx, network.Enable()); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx, requested
}

// shots saves full-page screenshots under dir.
type shots struct {
	t   *testing.T
	dir string
}

func (s shots) take(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var png []byte
		if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(s.dir, name+".png"), png, 0o644)
	})
}

func TestConsoleInChromium(t *testing.T) {
	ctx, requested := chromium(t)
	succeeded := fixture(t, "payment_intent.succeeded.json", "console")
	b := setup(t, emulator.SQLiteEnv(t), []emulator.StripeEvent{{Raw: succeeded}})
	seedConsole(b)
	b.deadLetter("evt_1QdLk2AbCdEfGh", domain.EventChargeRefunded, "pi_3QdLjzAbCdEfGh", "order not found for payment intent pi_3QdLjzAbCdEfGh (not-yet)")

	dir := t.TempDir()
	if os.Getenv(screenshotsEnv) == "1" {
		dir = filepath.Join(emulator.RepoRoot(t), "testdata", "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	shot := shots{t: t, dir: dir}
	base := b.srv.URL
	text := func(sel string) string {
		t.Helper()
		var s string
		if err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	location := func() string {
		t.Helper()
		var loc string
		if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(loc, base)
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// A signed-out visitor is sent to sign in, and back afterwards.
	run("open the order page signed out", chromedp.Navigate(base+"/console/orders/ord_1042"), chromedp.WaitVisible("#token", chromedp.ByQuery))
	if loc := location(); !strings.HasPrefix(loc, "/console/signin?next=") {
		t.Fatalf("signed-out visitor is at %s, want the sign-in page", loc)
	}
	run("screenshot sign-in", shot.take("signin"))
	run("sign in", chromedp.SendKeys("#token", b.operator, chromedp.ByQuery), chromedp.Submit("#token", chromedp.ByQuery),
		chromedp.WaitVisible("ol.timeline", chromedp.ByQuery))
	if loc := location(); loc != "/console/orders/ord_1042" {
		t.Errorf("after sign in at %s, want back at /console/orders/ord_1042", loc)
	}

	// A flagged order is in the review queue and is cleared with a click.
	run("open the queue", chromedp.Navigate(base+"/console/queue"), chromedp.WaitVisible("table.list", chromedp.ByQuery))
	if q := text("table.list"); !strings.Contains(q, "ord_1042") || !strings.Contains(q, "amount_mismatch") {
		t.Fatalf("review queue does not show ord_1042:\n%s", q)
	}
	run("screenshot queue", shot.take("review-queue"))
	run("clear review", chromedp.Click(`form[action$="/orders/ord_1042/clear-review"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".flash.ok", chromedp.ByQuery))
	if f := text(".flash.ok"); !strings.Contains(f, "Review cleared") {
		t.Errorf("after clearing: %q", f)
	}
	if strings.Contains(text("main"), "ord_1042") && strings.Contains(text("main"), "amount_mismatch") {
		t.Errorf("ord_1042 is still in the queue")
	}
	run("open the order", chromedp.Navigate(base+"/console/orders/ord_1042"), chromedp.WaitVisible("ol.timeline", chromedp.ByQuery))
	last := text("ol.timeline li:last-child")
	if !strings.Contains(last, "review_cleared") || !strings.Contains(last, operatorActor) {
		t.Errorf("last timeline entry %q, want review_cleared by %s", last, operatorActor)
	}
	run("screenshot order", shot.take("order"))

	// A form posted without its CSRF token is refused.
	run("strip the CSRF token and submit", chromedp.Navigate(base+"/console/orders/ord_2001"), chromedp.WaitVisible("ol.timeline", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('form[action$="/mark-refunded"] input[name=csrf]').remove()`, nil),
		chromedp.Click(`form[action$="/mark-refunded"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".flash.err", chromedp.ByQuery))
	if e := text(".flash.err"); !strings.Contains(e, "CSRF") {
		t.Errorf("a form without its CSRF token: %q, want it refused", e)
	}
	if o, _ := b.be.Store.Get(context.Background(), "ord_2001"); o.Status == domain.StatusRefunded {
		t.Errorf("a form without its CSRF token refunded the order")
	}

	// A refund asks for confirmation, showing what it refunds; only the
	// confirm page's button requests it, and the order then shows it pending.
	run("request a refund", chromedp.Navigate(base+"/console/orders/ord_2001"), chromedp.WaitVisible("ol.timeline", chromedp.ByQuery),
		chromedp.SetValue("#reason", "requested_by_customer", chromedp.ByQuery),
		chromedp.Click(`form[action$="/ord_2001/refund"] button`, chromedp.ByQuery),
		chromedp.WaitVisible("section.confirm", chromedp.ByQuery))
	if c := text("section.confirm"); !strings.Contains(c, "ord_2001") || !strings.Contains(c, "12.00 USD") ||
		!strings.Contains(c, "pi_3QdKbbAbCdEfGh") || !strings.Contains(c, "requested_by_customer") {
		t.Errorf("refund confirm page: %s", c)
	}
	if n := len(b.refunds.requests); n != 0 {
		t.Errorf("%d refunds requested before the confirmation", n)
	}
	run("screenshot refund confirm", shot.take("refund-confirm"))
	run("refund in Stripe", chromedp.Click(`section.confirm button.danger`, chromedp.ByQuery), chromedp.WaitVisible(".flash.ok", chromedp.ByQuery))
	if len(b.refunds.requests) != 1 || b.refunds.requests[0] != "ord_2001|"+operatorActor+"|requested_by_customer" {
		t.Errorf("refunds requested: %v", b.refunds.requests)
	}

	// Search by buyer.
	run("search", chromedp.Navigate(base+"/console/search?q=usr_ada"), chromedp.WaitVisible("table.list", chromedp.ByQuery))
	if s := text("table.list"); !strings.Contains(s, "ord_1042") || !strings.Contains(s, "ord_2001") {
		t.Errorf("search for usr_ada: %s", s)
	}
	run("screenshot search", shot.take("search"))

	// A dead-lettered event is shown with its lastError, previewed and redriven.
	run("open the DLQ", chromedp.Navigate(base+"/console/dlq"), chromedp.WaitVisible("table.list", chromedp.ByQuery))
	if d := text("table.list"); !strings.Contains(d, "evt_1QdLk2AbCdEfGh") || !strings.Contains(d, "order not found for payment intent") {
		t.Fatalf("DLQ page: %s", d)
	}
	run("preview", chromedp.Click(`button[value=preview]`, chromedp.ByQuery), chromedp.WaitVisible(".flash.info", chromedp.ByQuery))
	if p := text(".flash.info"); !strings.Contains(p, "would move 1") {
		t.Errorf("preview: %q", p)
	}
	run("screenshot DLQ", shot.take("dlq"))
	run("redrive", chromedp.Click(`button[value=redrive]`, chromedp.ByQuery), chromedp.WaitVisible(".flash.ok", chromedp.ByQuery))
	if r := text(".flash.ok"); !strings.Contains(r, "moved 1") || !strings.Contains(text("main"), "empty") {
		t.Errorf("redrive: %q", r)
	}

	// Replay an event by id.
	run("replay", chromedp.Navigate(base+"/console/replay"), chromedp.WaitVisible("#evt", chromedp.ByQuery),
		chromedp.SendKeys("#evt", "evt_console_pi_succeeded", chromedp.ByQuery), chromedp.Submit("#evt", chromedp.ByQuery),
		chromedp.WaitVisible(".flash.ok", chromedp.ByQuery))
	if r := text(".flash.ok"); !strings.Contains(r, "Enqueued") {
		t.Errorf("replay: %q", r)
	}
	run("screenshot replay", shot.take("replay"))

	// Sign out: the console sends to sign in again.
	run("sign out", chromedp.Click(`form.who button`, chromedp.ByQuery), chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.Navigate(base+"/console/dlq"), chromedp.WaitVisible("#token", chromedp.ByQuery))

	for _, u := range *requested {
		if !strings.HasPrefix(u, base+"/") {
			t.Errorf("the console made the browser request %s: it must work air-gapped", u)
		}
	}
}

// seedConsole writes orders that look like a real store's.
func seedConsole(b *bundle) {
	at := time.Now().UTC().Add(-3 * time.Hour)
	entry := func(typ string, ago time.Duration, evt string, meta map[string]any) domain.TimelineEntry {
		return domain.TimelineEntry{Type: typ, At: at.Add(ago), Actor: "stripe", ActorType: "system", EventID: evt, Meta: meta}
	}
	b.order("ord_1042", func(o *domain.Order) {
		o.UserID, o.SellerID, o.ProductID, o.Amount = "usr_ada", "sel_lovelace_press", "prd_analytical_engine_pdf", 4900
		o.CreatedAt = at.Add(-time.Minute)
		o.Status, o.PaymentStatus, o.StripePaymentIntentID, o.StripeChargeID = domain.StatusCompleted, domain.PaymentPaid, "pi_3QdK9sAbCdEfGh", "ch_3QdK9sAbCdEfGh"
		o.RequiresReview, o.ReviewReason = true, domain.ReasonAmountMismatch
		o.Timeline = []domain.TimelineEntry{
			entry(domain.EntryPaymentSucceeded, 0, "evt_3QdK9tAbCdEfGh", map[string]any{"amount": 490, "currency": "usd", "paymentIntentId": "pi_3QdK9sAbCdEfGh", "chargeId": "ch_3QdK9sAbCdEfGh"}),
			entry(domain.EntryReviewRequired, 0, "evt_3QdK9tAbCdEfGh", map[string]any{"reason": domain.ReasonAmountMismatch}),
		}
	})
	b.order("ord_1043", func(o *domain.Order) {
		o.UserID, o.SellerID, o.ProductID, o.Amount, o.Currency = "usr_grace", "sel_hopper_books", "prd_cobol_handbook", 2500, "eur"
		o.CreatedAt = at.Add(-49 * time.Hour)
		o.Status, o.PaymentStatus, o.StripePaymentIntentID = domain.StatusCompleted, domain.PaymentPaid, "pi_3QdKaaAbCdEfGh"
		o.RequiresReview, o.ReviewReason = true, domain.ReasonDisputeOpened
		o.Timeline = []domain.TimelineEntry{
			entry(domain.EntryPaymentSucceeded, -48*time.Hour, "evt_3QdKabAbCdEfGh", map[string]any{"amount": 2500, "currency": "eur"}),
			entry(domain.EntryDisputeOpened, 2*time.Hour, "evt_3QdKacAbCdEfGh", map[string]any{"reason": "fraudulent", "amount": 2500}),
		}
	})
	b.order("ord_2001", func(o *domain.Order) {
		o.UserID, o.SellerID, o.ProductID, o.Amount = "usr_ada", "sel_lovelace_press", "prd_notes_on_the_engine", 1200
		o.CreatedAt = at.Add(-21 * time.Hour)
		o.Status, o.PaymentStatus, o.StripePaymentIntentID = domain.StatusCompleted, domain.PaymentPaid, "pi_3QdKbbAbCdEfGh"
		o.Timeline = []domain.TimelineEntry{entry(domain.EntryPaymentSucceeded, -20*time.Hour, "evt_3QdKbcAbCdEfGh", map[string]any{"amount": 1200, "currency": "usd"})}
	})
	b.order("ord_2002", func(o *domain.Order) {
		o.UserID, o.SellerID, o.ProductID, o.Amount = "usr_ada", "sel_lovelace_press", "prd_bernoulli_tables", 800
		o.PaymentStatus = domain.PaymentFailed
	})
}
