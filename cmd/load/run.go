package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/sqlite"
)

// bareEvents is how many distinct signed events the bare handler is sent,
// round and round: it keeps no state, so reusing them changes nothing.
const bareEvents = 4096

// errIncorrect is returned after the report when an acknowledged event was
// lost or applied twice, or a duplicate delivery wrote.
var errIncorrect = errors.New("exactly-once check failed: see lost and doubled above")

// servePhase is one phase of events sent to serve, kept for the final check.
type servePhase struct {
	row     int // index into runner.serveRows
	evs     []event
	tracker *tracker
	dup     bool // re-delivered events: any write is a failure
}

// runner holds one run's state.
type runner struct {
	cfg       config
	prog      progress
	dir       string
	secret    string
	store     *sqlite.Store
	maker     *maker
	serve     *process
	watch     *watcher
	phases    []*servePhase
	bareRows  []row
	serveRows []row
	limits    []row
	sum       summary
}

func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	root, err := moduleDir(ctx)
	if err != nil {
		return err
	}
	parent := cfg.dir
	if parent == "" {
		// Where `make run` keeps its database: the disk orderflow would use.
		parent = filepath.Join(root, ".orderflow")
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp(parent, "load-")
	if err != nil {
		return err
	}
	if cfg.keep {
		defer fmt.Fprintf(stderr, "load: kept %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	r := &runner{cfg: cfg, prog: newProgress(stderr), dir: dir, secret: "whsec_" + randomHex(24)}
	r.sum.e2eRate = cfg.e2eRate

	bin := cfg.orderflow
	if bin == "" {
		done := r.prog.timed("building orderflow", 30*time.Second)
		bin, err = buildOrderflow(ctx, root, dir)
		done()
		if err != nil {
			return err
		}
	}
	dbPath := filepath.Join(dir, "orderflow.db")
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	r.store = sqlite.NewStore(db)
	if r.maker, err = newMaker(root, r.secret, r.store); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "load: %s, %s/%s, %d CPUs; phases of %s; %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), cfg.seconds, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "load: orderflow serve on a fresh SQLite file in %s (%s), default settings but LOG_LEVEL=warn (no per-message logs); limits on files in the same folder\n", dir, fsType(dir))
	fmt.Fprintf(stdout, "load: one Go client; closed loop over %d keep-alive connections, open loop at fixed rates; every request signed before its phase starts\n", cfg.conns)

	if err := r.measureLimits(ctx); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	bare, err := r.startBare(ctx)
	if err != nil {
		return err
	}
	defer bare.stop()
	bareClient := newClient("http://"+bare.addr+"/webhooks/stripe", cfg.conns)
	_, bareEvs := r.maker.unsigned(bareEvents)
	r.maker.sign(bareEvs)
	r.bareRows = append(r.bareRows, r.driveBare(ctx, bare, bareClient, bareEvs, 0))
	r.sum.bare = r.bareRows[0].rate
	bareClient.close()

	if err := r.runServe(ctx, bin, dbPath); err != nil {
		return err
	}

	// The bare handler at the same open-loop rates as serve, on fresh
	// connections.
	for _, rate := range r.openRates() {
		c := newClient("http://"+bare.addr+"/webhooks/stripe", openLoopConns)
		r.maker.sign(bareEvs)
		r.bareRows = append(r.bareRows, r.driveBare(ctx, bare, c, bareEvs, rate))
		c.close()
		if err := ctx.Err(); err != nil {
			return err
		}
	}

	rows := slices.Concat(r.bareRows, r.serveRows, r.limits)
	printTable(stdout, rows)
	fmt.Fprintln(stdout)
	r.sum.printTargets(stdout)
	fmt.Fprintln(stdout, r.sum.finalLine())
	if r.sum.lost > 0 || r.sum.doubled > 0 || r.sum.dupWrites > 0 {
		return errIncorrect
	}
	return nil
}

// measureLimits measures the disk and SQLite on files next to serve's.
func (r *runner) measureLimits(ctx context.Context) error {
	// Thousands of commits settle these figures; longer phases only make
	// the run longer.
	d := min(r.cfg.seconds, 3*time.Second)
	type limit struct {
		load, unit string
		fn         func() (opResult, error)
	}
	_, sample := r.maker.unsigned(1)
	payload := sample[0].body
	limits := []limit{
		{"fsync 4 KiB", "fsync/s", func() (opResult, error) { return measureFsync(ctx, filepath.Join(r.dir, "fsync.bin"), d) }},
		{"insert 1 row/commit", "rows/s", func() (opResult, error) {
			return measureInserts(ctx, filepath.Join(r.dir, "insert1.db"), payload, 1, d)
		}},
		{fmt.Sprintf("insert %d rows/commit", r.cfg.batch), "rows/s", func() (opResult, error) {
			return measureInserts(ctx, filepath.Join(r.dir, "insertN.db"), payload, r.cfg.batch, d)
		}},
		{"read+cond. update 1/tx", "tx/s", func() (opResult, error) { return measureUpdates(ctx, filepath.Join(r.dir, "update.db"), d) }},
	}
	for i, l := range limits {
		done := r.prog.timed(l.load, d)
		res, err := l.fn()
		done()
		if err != nil {
			return fmt.Errorf("%s: %w", l.load, err)
		}
		target := "sqlite"
		if i == 0 {
			target = "disk"
		}
		r.limits = append(r.limits, row{target: target, load: l.load, rate: res.rate(), unit: l.unit, n: res.ops,
			lat: summarize(res.lat), lost: notApplicable, doubled: notApplicable})
		if i == len(limits)-1 {
			r.sum.update = res.rate()
		}
	}
	return nil
}

func (r *runner) startBare(ctx context.Context) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return startProcess(ctx, "bare handler", self, []string{"-bare-handler", addr}, baseEnv(), addr, filepath.Join(r.dir, "bare.log"))
}

// driveBare runs one bare-handler phase: closed loop when rate is 0.
func (r *runner) driveBare(ctx context.Context, bare *process, c *client, evs []event, rate int) row {
	stopMem := bare.sampleMemory()
	var res loadResult
	load := fmt.Sprintf("closed %d conns", r.cfg.conns)
	if rate == 0 {
		done := r.prog.timed("bare: "+load, r.cfg.seconds)
		res = c.closedLoop(ctx, evs, true, r.cfg.conns, r.cfg.seconds, hooks{})
		done()
	} else {
		load = fmt.Sprintf("open %d/s", rate)
		done := r.prog.timed("bare: "+load, r.cfg.seconds)
		// Open loop sends each event once: go round the pool as needed.
		n := int(float64(rate)*r.cfg.seconds.Seconds() + 0.5)
		all := make([]event, n)
		for i := range all {
			all[i] = evs[i%len(evs)]
		}
		res = c.openLoop(ctx, all, rate, r.cfg.seconds, hooks{})
		done()
	}
	return row{target: "bare", load: load, rate: res.rate(), unit: "ev/s", n: res.ok, errs: res.errs,
		lat: summarize(res.accept), lost: notApplicable, doubled: notApplicable, rss: stopMem(), note: errNote(res)}
}

// openRates is the configured open-loop rates plus the one the accept-p99
// target is read at, once serve's ceiling is known.
func (r *runner) openRates() []int {
	rates := slices.Clone(r.cfg.rates)
	if r.sum.halfRate > 0 && !slices.Contains(rates, r.sum.halfRate) {
		rates = append(rates, r.sum.halfRate)
	}
	return rates
}

// runServe starts serve and runs every phase against it, then checks that
// each acknowledged event was applied exactly once.
func (r *runner) runServe(ctx context.Context, bin, dbPath string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	env := append(baseEnv(), "ORDERFLOW_DB="+dbPath, "ORDERFLOW_ADDR="+addr,
		"STRIPE_WEBHOOK_SECRET="+r.secret, "LOG_LEVEL=warn")
	r.serve, err = startProcess(ctx, "orderflow serve", bin, []string{"serve"}, env, addr, filepath.Join(r.dir, "serve.log"))
	if err != nil {
		return err
	}
	defer r.serve.stop()
	r.watch, err = newWatcher(ctx, dbPath, r.cfg.poll)
	if err != nil {
		return err
	}
	defer r.watch.close()
	wctx, stopWatch := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		r.watch.run(wctx)
	}()
	defer func() {
		stopWatch()
		<-watching // before the watcher's statement is closed
	}()
	url := "http://" + addr + "/webhooks/stripe"

	// The ceiling: closed loop until the events or the time run out, then the
	// backlog it left shows the sustained apply rate.
	// Orders for a quarter of the bare rate over the phase are enough to meet
	// the 0.20 target for the whole phase; running out earlier only shortens
	// the measurement, and creating orders costs a durable commit each.
	pool := min(r.cfg.ceilingEvents, max(1000, int(0.25*r.sum.bare*r.cfg.seconds.Seconds())))
	c := newClient(url, r.cfg.conns)
	ph, err := r.drive(ctx, c, pool, 0, fmt.Sprintf("closed %d conns", r.cfg.conns))
	c.close()
	if err != nil {
		return err
	}
	r.sum.accept = r.serveRows[ph.row].rate
	r.sum.apply = ph.tracker.applyRate()
	_, applied := ph.tracker.counts()
	r.serveRows = append(r.serveRows, row{target: "orderflow", load: "apply (closed's backlog)", rate: r.sum.apply, unit: "ev/s",
		n: applied, lost: notApplicable, doubled: notApplicable})
	r.sum.halfRate = max(1, int(min(0.10*r.sum.bare, 0.5*r.sum.accept)))

	for _, rate := range r.openRates() {
		c := newClient(url, openLoopConns)
		n := int(float64(rate)*r.cfg.seconds.Seconds() + 0.5)
		ph, err := r.drive(ctx, c, n, rate, fmt.Sprintf("open %d/s", rate))
		c.close()
		if err != nil {
			return err
		}
		got := r.serveRows[ph.row]
		if rate == r.cfg.e2eRate {
			r.sum.e2eP99, r.sum.e2eMeasured = got.e2e.p99, got.e2e.n > 0
		}
		if rate == r.sum.halfRate {
			r.sum.halfP99 = got.lat.p99
		}
	}
	if err := r.duplicates(ctx, url); err != nil {
		return err
	}
	_, r.sum.rssPeak = r.serve.memory()
	if err := r.serve.alive(); err != nil {
		return err
	}
	return r.check(ctx)
}

// drive creates n orders, signs their events, sends them closed loop
// (rate 0) or open loop, and waits until every acknowledged one is applied.
func (r *runner) drive(ctx context.Context, c *client, n, rate int, load string) (*servePhase, error) {
	update, done := r.prog.step(fmt.Sprintf("orderflow %s: creating orders", load), n)
	first, evs, err := r.maker.withOrders(ctx, n, update)
	done()
	if err != nil {
		return nil, err
	}
	r.maker.sign(evs)
	t := newTracker(first, len(evs))
	r.watch.follow(t)
	stopMem := r.serve.sampleMemory()

	finish := r.prog.timed("orderflow "+load, r.cfg.seconds)
	var res loadResult
	if rate == 0 {
		res = c.closedLoop(ctx, evs, false, r.cfg.conns, r.cfg.seconds, t.hooks())
	} else {
		res = c.openLoop(ctx, evs, rate, r.cfg.seconds, t.hooks())
	}
	finish()
	if err := ctx.Err(); err != nil {
		stopMem()
		return nil, err
	}
	if err := r.serve.alive(); err != nil {
		stopMem()
		return nil, err
	}
	update, done = r.prog.step(fmt.Sprintf("orderflow %s: applying", load), res.ok)
	err = r.watch.drain(ctx, t, r.cfg.drainTimeout, func(applied, _ int) { update(applied) })
	done()
	if err != nil {
		stopMem()
		return nil, err
	}
	ph := &servePhase{row: len(r.serveRows), evs: evs, tracker: t}
	r.phases = append(r.phases, ph)
	r.serveRows = append(r.serveRows, row{target: "orderflow", load: load, rate: res.rate(), unit: "ev/s", n: res.ok, errs: res.errs,
		lat: summarize(res.accept), e2e: summarize(t.lags()), rss: stopMem(), note: errNote(res)})
	return ph, ctx.Err()
}

// duplicates delivers already-applied events again (fresh signatures, same
// event ids), then one new event as a marker, and lets the check confirm that
// none of the duplicates wrote anything.
func (r *runner) duplicates(ctx context.Context, url string) error {
	var evs []event
	for _, ph := range r.phases {
		for i := range ph.evs {
			if len(evs) < r.cfg.duplicates && ph.tracker.ackAt[i].Load() != 0 && ph.tracker.doneAt[i].Load() != 0 {
				evs = append(evs, ph.evs[i])
			}
		}
	}
	if len(evs) == 0 {
		return nil
	}
	r.maker.sign(evs)
	c := newClient(url, r.cfg.conns)
	defer c.close()
	stopMem := r.serve.sampleMemory()
	done := r.prog.timed("orderflow: duplicate deliveries", r.cfg.seconds)
	res := c.closedLoop(ctx, evs, false, r.cfg.conns, time.Hour, hooks{})
	done()
	// The marker goes in after every duplicate was answered; once it is
	// applied, the queue has moved past them.
	first, marker, err := r.maker.withOrders(ctx, 1, func(int) {})
	if err != nil {
		stopMem()
		return err
	}
	r.maker.sign(marker)
	t := newTracker(first, 1)
	r.watch.follow(t)
	res2 := c.closedLoop(ctx, marker, false, 1, time.Hour, t.hooks())
	if res2.ok != 1 {
		stopMem()
		return fmt.Errorf("the marker event after the duplicates was not accepted: %v", res2.firstErr)
	}
	if err := r.watch.drain(ctx, t, r.cfg.drainTimeout, func(int, int) {}); err != nil {
		stopMem()
		return err
	}
	// A duplicate that slipped past the queue's dedup would reach a worker
	// about when the marker does; give it time to write if it were going to.
	time.Sleep(time.Second)
	r.sum.duplicates = res.ok
	r.phases = append(r.phases, &servePhase{row: len(r.serveRows), evs: evs, tracker: newTracker(0, 0), dup: true})
	r.serveRows = append(r.serveRows, row{target: "orderflow", load: "duplicates (applied)", rate: res.rate(), unit: "ev/s",
		n: res.ok, errs: res.errs, lat: summarize(res.accept), lost: notApplicable, rss: stopMem(), note: errNote(res)})
	return ctx.Err()
}

// appliedState is what the final check reads of one order.
type appliedState struct {
	version  int64
	payments []string // event ids of its payment_succeeded entries
}

// check reads every order through the store and fills lost and doubled:
// lost, an acknowledged event whose order has no payment_succeeded entry
// for it; doubled, one with more than one entry, another payment entry, or a
// version past the single write (created at 1, +1 for the payment).
func (r *runner) check(ctx context.Context) error {
	done := r.prog.timed("checking every order", 5*time.Second)
	defer done()
	orders := map[string]appliedState{}
	err := r.store.List(ctx, domain.Filter{}, func(o domain.Order) error {
		s := appliedState{version: o.Version}
		for _, e := range o.Timeline {
			if e.Type == domain.EntryPaymentSucceeded {
				s.payments = append(s.payments, e.EventID)
			}
		}
		orders[o.ID] = s
		return nil
	})
	if err != nil {
		return fmt.Errorf("final check: %w", err)
	}
	lostIDs, doubledIDs := map[string]bool{}, map[string]bool{}
	for _, ph := range r.phases {
		lost, doubled := 0, 0
		for i, ev := range ph.evs {
			if !ph.dup && ph.tracker.ackAt[i].Load() == 0 {
				continue // never acknowledged: Stripe would deliver it again
			}
			s := orders[ev.orderID]
			n := 0
			for _, id := range s.payments {
				if id == ev.eventID {
					n++
				}
			}
			switch {
			case n == 0:
				lost++
				lostIDs[ev.orderID] = true
			case n > 1 || len(s.payments) > 1 || s.version > 2:
				doubled++
				doubledIDs[ev.orderID] = true
			}
		}
		row := &r.serveRows[ph.row]
		row.doubled = doubled
		if ph.dup {
			r.sum.dupWrites = doubled
		} else {
			row.lost = lost
		}
	}
	r.sum.lost, r.sum.doubled = len(lostIDs), len(doubledIDs)
	return nil
}
