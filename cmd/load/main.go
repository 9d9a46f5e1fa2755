// Command load measures `orderflow serve` on SQLite against the limits of the
// machine it runs on (issue 11), in one run, with one client:
//
//   - the limits: a bare net/http handler (closed-loop ceiling and the same
//     open-loop rates), fsync, durable SQLite inserts one row per commit and
//     batched, and read-then-conditional-update one per transaction;
//   - serve: its closed-loop accept ceiling, its sustained apply rate, and
//     open-loop runs at fixed rates recording accept latency (request → 200)
//     and end-to-end lag (200 → order changed);
//   - correctness: every acknowledged event applied exactly once, and a
//     duplicate delivery writes nothing.
//
// Every request is signed before its phase's clock starts, so the client's own
// signing cost stays out of the figures. It prints one table and ends with one
// line, `load: accept/bare=… apply/update=… e2e_p99_ms@1000=… lost=… doubled=…`.
// LOAD_SECONDS (or -seconds) sets the length of each timed phase.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	if cfg.bareAddr != "" {
		// The bare-handler target runs as its own process, like serve, so
		// both are driven the same way.
		if err := serveBare(ctx, cfg.bareAddr); err != nil {
			fmt.Fprintln(os.Stderr, "load: bare handler:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}
