package main

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress draws a bar for a long run (redrive, reconcile, backfill) on
// stderr, only when stderr is a terminal: stdout carries the JSON summary and
// a pipe or a log file must not fill with control characters. total < 0
// means unknown (a spinner with a count). update is never nil; finish clears
// the bar before the summary is printed.
func (a *app) progress(desc string, total int) (update func(done int), finish func()) {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func(int) {}, func() {}
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
	)
	max := total
	update = func(done int) {
		if max >= 0 && done > max {
			// More arrived than counted at the start (a live DLQ).
			max = done
			bar.ChangeMax(max)
		}
		_ = bar.Set(done)
	}
	finish = func() {
		_ = bar.Finish()
		_ = bar.Clear()
	}
	return update, finish
}
