package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/workers"
)

func (a *app) dlqRedriveCommand() *cobra.Command {
	var opts workers.RedriveOptions
	c := &cobra.Command{
		Use:   "redrive [--limit N] [--type T] [--dry-run]",
		Short: "Move dead-lettered messages back to the events queue (playbook §3)",
		Long: `Move dead-lettered messages back to the events queue, keeping their group, with
dedup id <eventId>#replay-<n> and attribute replayCount=n. A message is deleted
from the DLQ only after the events queue accepted it; one already replayed
MAX_REPLAYS times (default 3) stays in the DLQ as parked. Applying an event
twice is impossible (appliedEvents), so a redrive is always safe to repeat.
Prints {"moved":N,"parked":N,"remaining":N}; with --dry-run, what would move.`,
		Example: `  orderflow dlq redrive --dry-run
  orderflow dlq redrive --type charge.refunded --limit 50
  orderflow dlq redrive`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Limit < 0 {
				return usagef("--limit %d: want 0 (all) or more", opts.Limit)
			}
			if cmd.Flags().Changed("type") && (strings.TrimSpace(opts.Type) == "" || strings.ContainsAny(opts.Type, " \t")) {
				return usagef("--type %q: want one eventType, e.g. charge.refunded", opts.Type)
			}
			ctx := cmd.Context()
			be, err := a.open(ctx, backend.Parts{Events: true, DLQ: true})
			if err != nil {
				return err
			}
			total := -1
			if st, err := be.DLQ.Stats(ctx); err == nil {
				total = st.Visible + st.InFlight
			}
			update, finish := a.progress("redrive", total)
			r, err := workers.NewReplayer(workers.ReplayConfig{
				DLQ: be.DLQ, Events: be.Events, Logger: a.log, Metrics: a.metrics,
				MaxReplays: a.cfg.MaxReplays, Clock: a.clock, Progress: update,
			})
			if err != nil {
				return err
			}
			sum, err := r.Redrive(ctx, opts)
			finish()
			if err != nil {
				return err
			}
			return a.printJSON(sum)
		},
	}
	c.Flags().IntVar(&opts.Limit, "limit", 0, "move at most N messages (0: all)")
	c.Flags().StringVar(&opts.Type, "type", "", "move only messages of this eventType")
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "move nothing; print what would move and park")
	return c
}
