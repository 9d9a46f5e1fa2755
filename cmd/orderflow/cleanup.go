package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/workers"
)

func (a *app) cleanupCommand() *cobra.Command {
	var minutes int
	run := &cobra.Command{
		Use:   "run [--minutes N]",
		Short: "Cancel pending orders whose payment failed more than N minutes ago (playbook §5, §6)",
		Example: `  orderflow cleanup run
  orderflow cleanup run --minutes 30`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("minutes") {
				minutes = a.cfg.CleanupFailedPaymentMinutes
			}
			if minutes < 1 {
				return usagef("--minutes %d: want at least 1", minutes)
			}
			be, err := a.open(cmd.Context(), backend.Parts{Store: true})
			if err != nil {
				return err
			}
			n, err := workers.NewCleanup(a.deps(be)).Run(cmd.Context(), time.Duration(minutes)*time.Minute)
			if err != nil {
				return err
			}
			return a.printJSON(map[string]int{"cancelled": n})
		},
	}
	run.Flags().IntVar(&minutes, "minutes", 0, "age of the payment failure in minutes (default CLEANUP_FAILED_PAYMENT_MINUTES)")
	return group("cleanup", "Run the failed-payment cleanup", run)
}

func (a *app) deps(be *backend.Backend) workers.Deps {
	return workers.Deps{Store: be.Store, Clock: a.clock, Logger: a.log, Metrics: a.metrics, CleanupAfter: a.cfg.CleanupAfter()}
}
