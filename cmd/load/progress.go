package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress draws one bar per step on w when w is a terminal, and nothing
// otherwise: a pipe or a log file gets the table alone.
type progress struct {
	f *os.File // nil: not a terminal
}

func newProgress(w io.Writer) progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return progress{f: f}
	}
	return progress{}
}

// step starts a bar for desc; total < 0 draws a spinner. update may be
// called from any goroutine; finish clears the bar.
func (p progress) step(desc string, total int) (update func(done int), finish func()) {
	if p.f == nil {
		return func(int) {}, func() {}
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.f),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetWidth(30),
	)
	var mu sync.Mutex
	update = func(done int) {
		mu.Lock()
		defer mu.Unlock()
		_ = bar.Set(done)
	}
	finish = func() {
		mu.Lock()
		defer mu.Unlock()
		_ = bar.Finish()
		_ = bar.Clear()
	}
	return update, finish
}

// timed shows a bar that fills over d, for phases measured by time.
func (p progress) timed(desc string, d time.Duration) (finish func()) {
	update, done := p.step(desc, int(d/(100*time.Millisecond)))
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				update(int(time.Since(start) / (100 * time.Millisecond)))
			}
		}
	}()
	return func() {
		close(stop)
		<-finished
		done()
	}
}
