package main

import (
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/workers"
)

// backfillResult is the summary line of orders backfill-payment-intents.
type backfillResult struct {
	workers.BackfillSummary
	DryRun bool `json:"dryRun"`
}

func (a *app) ordersBackfillCommand() *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "backfill-payment-intents [--dry-run]",
		Short: "Set stripePaymentIntentId from the payment_succeeded timeline entry (playbook §7)",
		Long: `Set stripePaymentIntentId on every order that lacks it but whose timeline has a
payment_succeeded entry naming the payment intent, so PaymentIntentIndex finds
it. Reads every order (a scan on DynamoDB: orders without the field are not in
the index). No timeline entry is added: the payment's entry is already there.
Prints {"scanned":N,"updated":N,"skipped":N,"dryRun":bool}; skipped orders lack
the field and have no payment intent in their timeline either.`,
		Example: `  orderflow orders backfill-payment-intents --dry-run
  orderflow orders backfill-payment-intents`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			be, err := a.open(ctx, backend.Parts{Store: true})
			if err != nil {
				return err
			}
			update, finish := a.progress("backfill", -1)
			sum, err := workers.Backfill(ctx, be.Store, a.clock, dryRun, update)
			finish()
			if err != nil {
				return err
			}
			return a.printJSON(backfillResult{BackfillSummary: sum, DryRun: dryRun})
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "change nothing; count what would be set")
	return c
}
