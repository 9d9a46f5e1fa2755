package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// dist summarises latencies: nearest-rank percentiles.
type dist struct {
	n             int
	p50, p99, max time.Duration
}

func summarize(d []time.Duration) dist {
	if len(d) == 0 {
		return dist{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return dist{n: len(s), p50: rank(0.50), p99: rank(0.99), max: s[len(s)-1]}
}

// notApplicable marks a lost/doubled cell that has no meaning for the row.
const notApplicable = -1

// row is one line of the table.
type row struct {
	target  string // bare, orderflow, sqlite, disk
	load    string // how it was driven
	rate    float64
	unit    string
	n       int  // acknowledged requests, or operations
	errs    int  // requests not answered 200
	lat     dist // request → 200 for HTTP rows; one commit (or fsync) for the limits
	e2e     dist // 200 → order changed
	lost    int
	doubled int
	rss     int64  // the target's largest VmRSS during the row, bytes; 0 when not measured
	note    string // why requests failed, printed under the table
}

// errNote describes a phase's failed requests for the notes under the table.
func errNote(res loadResult) string {
	if res.errs == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d requests not acknowledged (first: %v)", res.errs, res.sent, res.firstErr)
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 1000:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func cell(v int) string {
	if v == notApplicable {
		return "-"
	}
	return fmt.Sprint(v)
}

// printTable writes the rows as one aligned table.
func printTable(w io.Writer, rows []row) {
	const format = "%-10s %-24s %10s %-7s %7s %5s %8s %8s %8s %9s %9s %9s %5s %7s %7s\n"
	fmt.Fprintf(w, format, "target", "load", "rate", "unit", "n", "err",
		"p50_ms", "p99_ms", "max_ms", "e2e_p50", "e2e_p99", "e2e_max", "lost", "doubled", "rss_MB")
	for _, r := range rows {
		lat := [3]string{"-", "-", "-"}
		if r.lat.n > 0 {
			lat = [3]string{ms(r.lat.p50), ms(r.lat.p99), ms(r.lat.max)}
		}
		e2e := [3]string{"-", "-", "-"}
		if r.e2e.n > 0 {
			e2e = [3]string{ms(r.e2e.p50), ms(r.e2e.p99), ms(r.e2e.max)}
		}
		rss := "-"
		if r.rss > 0 {
			rss = fmt.Sprintf("%.0f", float64(r.rss)/(1<<20))
		}
		fmt.Fprintf(w, format, r.target, r.load, fmt.Sprintf("%.0f", r.rate), r.unit, fmt.Sprint(r.n), fmt.Sprint(r.errs),
			lat[0], lat[1], lat[2], e2e[0], e2e[1], e2e[2], cell(r.lost), cell(r.doubled), rss)
	}
	for _, r := range rows {
		if r.note != "" {
			fmt.Fprintf(w, "note: %s %s: %s\n", r.target, r.load, r.note)
		}
	}
}

// summary holds the figures the targets and the final line are made of.
type summary struct {
	bare, accept          float64 // closed-loop ceilings, events/s
	apply, update         float64 // serve's sustained apply rate; conditional updates/s
	e2eRate               int
	e2eP99                time.Duration
	e2eMeasured           bool
	halfRate              int // the open-loop rate the accept p99 target is read at
	halfP99               time.Duration
	lost, doubled         int // every serve row, the duplicate delivery included
	duplicates, dupWrites int // duplicate deliveries sent; orders they wrote to
	rssPeak               int64
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// finalLine is the run's last line (issue 11's format).
func (s summary) finalLine() string {
	e2e := "n/a"
	if s.e2eMeasured {
		e2e = fmt.Sprint(s.e2eP99.Round(time.Millisecond).Milliseconds())
	}
	return fmt.Sprintf("load: accept/bare=%.3f apply/update=%.3f e2e_p99_ms@%d=%s lost=%d doubled=%d",
		ratio(s.accept, s.bare), ratio(s.apply, s.update), s.e2eRate, e2e, s.lost, s.doubled)
}

// printTargets checks the figures against issue 11's targets.
func (s summary) printTargets(w io.Writer) {
	mark := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	var b strings.Builder
	fmt.Fprintln(&b, "targets (issue 11):")
	line := func(ok bool, format string, args ...any) {
		fmt.Fprintf(&b, "  %-6s %s\n", mark(ok), fmt.Sprintf(format, args...))
	}
	line(ratio(s.accept, s.bare) >= 0.20, "accept/bare %.3f ≥ 0.20 (serve %.0f/s, bare %.0f/s, closed-loop)", ratio(s.accept, s.bare), s.accept, s.bare)
	line(s.halfRate > 0 && s.halfP99 <= 20*time.Millisecond, "accept p99 %s ms ≤ 20 ms at %d/s (half the target ceiling, 0.10 × bare, or of serve's own if lower)", ms(s.halfP99), s.halfRate)
	line(ratio(s.apply, s.update) >= 1.0, "apply/update %.3f ≥ 1.0 (apply %.0f/s sustained, conditional updates %.0f/s)", ratio(s.apply, s.update), s.apply, s.update)
	line(s.e2eMeasured && s.e2eP99 < 100*time.Millisecond, "end-to-end lag p99 %s ms < 100 ms at %d/s", ms(s.e2eP99), s.e2eRate)
	line(s.lost == 0 && s.doubled == 0, "lost %d = 0, doubled %d = 0 at every rate", s.lost, s.doubled)
	line(s.dupWrites == 0, "%d duplicate deliveries wrote to %d orders (want 0)", s.duplicates, s.dupWrites)
	line(s.rssPeak > 0 && s.rssPeak < 150<<20, "serve peak RSS (VmHWM) %.0f MB < 150 MB", float64(s.rssPeak)/(1<<20))
	_, _ = io.WriteString(w, b.String())
}
