package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the run's settings: plain flags, LOAD_SECONDS for the phase length.
type config struct {
	seconds       time.Duration // length of every timed phase
	conns         int           // keep-alive connections of the closed-loop client
	rates         []int         // open-loop rates, events per second
	e2eRate       int           // the open-loop rate the final line reports lag at
	ceilingEvents int           // cap on the events of serve's closed-loop phase
	batch         int           // rows per commit of the batched insert limit
	duplicates    int           // already-applied events delivered again
	drainTimeout  time.Duration // give up on unapplied events after this long without progress
	poll          time.Duration // how often the lag watcher reads the orders
	orderflow     string        // a built orderflow binary; empty: build ./cmd/orderflow
	dir           string        // where the fresh SQLite files go
	keep          bool          // keep the data folder (databases, serve's log)
	bareAddr      string        // internal: run only the bare handler on this address
}

// parseConfig reads the flags; getenv supplies LOAD_SECONDS as the default of
// -seconds. It reports every problem at once.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./cmd/load [flags]   (make load)")
		fmt.Fprintln(stderr, "Measures orderflow serve on a fresh SQLite file against the limits of this machine; prints one table.")
		fs.PrintDefaults()
	}
	var c config
	var problems []string
	seconds := 5.0
	if v := getenv("LOAD_SECONDS"); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil {
			problems = append(problems, fmt.Sprintf("LOAD_SECONDS=%q is not a number of seconds", v))
		} else {
			seconds = s
		}
	}
	rates := "300,500,1000"
	fs.Float64Var(&seconds, "seconds", seconds, "length of each timed phase in seconds (default from LOAD_SECONDS)")
	fs.IntVar(&c.conns, "conns", 32, "keep-alive connections of the closed-loop client")
	fs.StringVar(&rates, "rates", rates, "open-loop rates in events/s, comma separated (the e2e rate is added if missing)")
	fs.IntVar(&c.e2eRate, "e2e-rate", 1000, "open-loop rate whose end-to-end lag p99 the final line reports")
	fs.IntVar(&c.ceilingEvents, "ceiling-events", 20000, "most events sent in serve's closed-loop phase (orders are created for each; at most a quarter of the bare rate over the phase is used)")
	fs.IntVar(&c.batch, "batch", 32, "rows per commit of the batched SQLite insert limit")
	fs.IntVar(&c.duplicates, "duplicates", 500, "already-applied events delivered again, which must write nothing")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 40*time.Second, "count acknowledged events as lost after this long without any being applied (above serve's 30s visibility timeout)")
	fs.DurationVar(&c.poll, "poll", 5*time.Millisecond, "how often the lag watcher reads the orders table")
	fs.StringVar(&c.orderflow, "orderflow", "", "an orderflow binary to run (default: build ./cmd/orderflow)")
	fs.StringVar(&c.dir, "dir", "", "where to put the fresh SQLite files (default: .orderflow in the repository, where make run keeps its database)")
	fs.BoolVar(&c.keep, "keep", false, "keep the data folder (databases and serve's log) after the run")
	fs.StringVar(&c.bareAddr, "bare-handler", "", "internal: only run the bare net/http handler on this address (the run starts itself this way)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	// Events are signed just before their phase: a phase longer than the
	// ingress's 300 s signature tolerance would send stale signatures.
	if seconds < 0.2 || seconds > 240 {
		problems = append(problems, fmt.Sprintf("phase length %gs: want 0.2 to 240 seconds (signatures must stay inside the 300 s tolerance)", seconds))
	}
	c.seconds = time.Duration(seconds * float64(time.Second))
	for _, r := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			problems = append(problems, fmt.Sprintf("-rates: %q is not a positive whole number", r))
			continue
		}
		c.rates = append(c.rates, n)
	}
	if c.e2eRate <= 0 {
		problems = append(problems, "-e2e-rate must be positive")
	} else if !slices.Contains(c.rates, c.e2eRate) {
		c.rates = append(c.rates, c.e2eRate)
	}
	slices.Sort(c.rates)
	c.rates = slices.Compact(c.rates)
	if c.conns < 1 || c.conns > 1024 {
		problems = append(problems, "-conns: want 1 to 1024")
	}
	if c.ceilingEvents < 1 {
		problems = append(problems, "-ceiling-events must be positive")
	}
	if c.batch < 2 {
		problems = append(problems, "-batch: want at least 2 rows per commit")
	}
	if c.duplicates < 0 {
		problems = append(problems, "-duplicates must not be negative")
	}
	if c.drainTimeout <= 0 {
		problems = append(problems, "-drain-timeout must be positive")
	}
	if c.poll <= 0 {
		problems = append(problems, "-poll must be positive")
	}
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "; "))
	}
	return c, nil
}
