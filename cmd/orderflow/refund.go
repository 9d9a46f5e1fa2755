package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/stripeapi"
	"github.com/orderflow/orderflow/workers"
)

func (a *app) ordersRefundCommand() *cobra.Command {
	var actor, reason string
	c := &cobra.Command{
		Use:   "refund <id> --actor <adminId> [--reason requested_by_customer|duplicate|fraudulent]",
		Short: "Start a full Stripe refund of a completed, paid order (playbook §11, §12)",
		Long: `Creates a full refund of the order's payment intent through the Stripe API
(STRIPE_API_BASE) with metadata orderId and actorId and the idempotency key
orderflow-refund-<orderId>-<n> (n = earlier refund_failed entries), then records
timeline refund_requested. The order turns refunded when Stripe's charge.refunded
arrives. Errors (exit 1): "already refunding" while a requested refund has
neither refunded nor failed, "already refunded", "not paid", and Stripe's own
refusals in one line. Running it again after a crash reuses the key, so Stripe
answers with the refund it already made.`,
		Example: `  orderflow orders refund ord_123 --actor adm_42 --reason requested_by_customer`,
		Args:    exactArgs(1, "one order id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(actor) == "" {
				return usagef("%s needs --actor <adminId> (recorded in the timeline and the refund's metadata)", cmd.CommandPath())
			}
			if !stripeapi.ValidRefundReason(reason) {
				return usagef("--reason %q: want %s", reason, strings.Join(stripeapi.RefundReasons, ", "))
			}
			ctx := cmd.Context()
			be, err := a.open(ctx, backend.Parts{Store: true})
			if err != nil {
				return err
			}
			sc, err := stripeapi.New(stripeapi.Config{BaseURL: a.cfg.StripeAPIBase, Keys: be.Secrets, Clock: a.clock})
			if err != nil {
				return err
			}
			o, err := workers.RefundRequester{Store: be.Store, Stripe: sc, Clock: a.clock}.Refund(ctx, args[0], actor, reason)
			if err != nil {
				return orderError(args[0], err)
			}
			return a.printJSON(o)
		},
	}
	c.Flags().StringVar(&actor, "actor", "", "the admin's id, recorded as actorId in the timeline and the refund's metadata")
	c.Flags().StringVar(&reason, "reason", "", "Stripe's refund reason: requested_by_customer, duplicate or fraudulent")
	return c
}
