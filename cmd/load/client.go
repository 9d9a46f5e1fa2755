package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// requestTimeout bounds one POST; an answer later than this counts as an error.
const requestTimeout = 30 * time.Second

// openLoopConns caps the open-loop client's connections: enough that a
// stalled target builds a queue of waiting requests, not of file descriptors.
const openLoopConns = 512

// client posts signed events to one target, the same way for every target.
type client struct {
	url  string
	http *http.Client
}

// newClient returns a client keeping up to conns keep-alive connections.
func newClient(url string, conns int) *client {
	tr := &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}
	return &client{url: url, http: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// post delivers one event; only a 200 acknowledges it.
func (c *client) post(ctx context.Context, ev *event) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(ev.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", ev.sig)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	// Read to the end so the connection is reused; every target's answer is
	// read the same way.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(answer))
	}
	if bytes.Contains(answer, []byte(`"ignored":true`)) {
		return errIgnored
	}
	return nil
}

// errIgnored is a 200 that did not take the event: nothing was enqueued, so
// counting it as acknowledged would report it lost.
var errIgnored = errors.New(`HTTP 200 {"ignored":true}: the event was not enqueued`)

// loadResult is what one phase of requests saw.
type loadResult struct {
	sent, ok, errs int
	elapsed        time.Duration   // first request sent → last answer
	accept         []time.Duration // request → 200, for every acknowledged event
	firstErr       error
}

// rate is acknowledged events per second over the phase.
func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// hooks lets the caller follow a phase: claimed is called with the index of
// each request about to be sent (in index order), acked with each 200.
type hooks struct {
	claimed func(i int)
	acked   func(i int, at time.Time)
}

func (h hooks) claim(i int) {
	if h.claimed != nil {
		h.claimed(i)
	}
}

func (h hooks) ack(i int, at time.Time) {
	if h.acked != nil {
		h.acked(i, at)
	}
}

// closedLoop sends with conns workers, each posting its next event as soon
// as the previous one is answered, for d or until the events run out. With
// cycle, it goes round the events again (the bare handler keeps no state).
// Latency is request → answer.
func (c *client) closedLoop(ctx context.Context, evs []event, cycle bool, conns int, d time.Duration, h hooks) loadResult {
	var next atomic.Int64
	var mu sync.Mutex
	var res loadResult
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	lastAnswer := start
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			sent, errs := 0, 0
			var firstErr error
			var last time.Time
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= len(evs) && !cycle {
					break
				}
				h.claim(i)
				t0 := time.Now()
				err := c.post(ctx, &evs[i%len(evs)])
				last = time.Now()
				sent++
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, last.Sub(t0))
				h.ack(i, last)
			}
			mu.Lock()
			defer mu.Unlock()
			res.sent += sent
			res.ok += len(lat)
			res.errs += errs
			res.accept = append(res.accept, lat...)
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			if last.After(lastAnswer) {
				lastAnswer = last
			}
		}()
	}
	wg.Wait()
	res.elapsed = lastAnswer.Sub(start)
	return res
}

// openLoop sends event i at start + i/rate whatever the answers so far, for d
// or until the events run out. Latency runs from the scheduled send time, so
// a target that falls behind is charged for the wait (no coordinated
// omission).
func (c *client) openLoop(ctx context.Context, evs []event, rate int, d time.Duration, h hooks) loadResult {
	n := min(len(evs), int(float64(rate)*d.Seconds()+0.5))
	lat := make([]time.Duration, n)
	answered := make([]time.Time, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	sent := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(float64(i) * float64(time.Second) / float64(rate)))
		if wait := time.Until(at); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		h.claim(i)
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.post(ctx, &evs[i])
			answered[i] = time.Now()
			lat[i] = answered[i].Sub(at)
			if errs[i] == nil {
				h.ack(i, answered[i])
			}
		}()
	}
	wg.Wait()
	res := loadResult{sent: sent}
	last := start
	for i := 0; i < sent; i++ {
		if answered[i].After(last) {
			last = answered[i]
		}
		if errs[i] != nil {
			res.errs++
			if res.firstErr == nil {
				res.firstErr = errs[i]
			}
			continue
		}
		res.ok++
		res.accept = append(res.accept, lat[i])
	}
	res.elapsed = last.Sub(start)
	return res
}
