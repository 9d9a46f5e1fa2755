package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/workers"
)

// ordersLinkCommand is `orders link-payment-intent` (SPEC §9): the rescue for
// an event whose order cannot be found, before `dlq redrive`.
func (a *app) ordersLinkCommand() *cobra.Command {
	var actor string
	var force bool
	c := &cobra.Command{
		Use:   "link-payment-intent <id> <pi_…> --actor <adminId> [--force]",
		Short: "Attach a payment intent to an order so its events find it, then `dlq redrive` (playbook §4, §7)",
		Example: `  orderflow orders link-payment-intent ord_123 pi_3Nx… --actor adm_42
  orderflow dlq redrive`,
		Args: exactArgs(2, "an order id and a payment intent id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(actor) == "" {
				return usagef("%s needs --actor <adminId> (recorded in the timeline)", cmd.CommandPath())
			}
			if err := domain.CheckPaymentIntentID(args[1]); err != nil {
				return usagef("%q is not a Stripe payment intent id (pi_…)", args[1])
			}
			be, err := a.open(cmd.Context(), backend.Parts{Store: true})
			if err != nil {
				return err
			}
			op := workers.Operator{Store: be.Store, Clock: a.clock}
			o, err := op.LinkPaymentIntent(cmd.Context(), args[0], args[1], actor, force)
			if errors.Is(err, domain.ErrAlreadyLinked) {
				return fmt.Errorf("order %s is already linked to another payment intent, %s; pass --force to replace it", args[0], o.StripePaymentIntentID)
			}
			if err != nil {
				return orderError(args[0], err)
			}
			return a.printJSON(o)
		},
	}
	c.Flags().StringVar(&actor, "actor", "", "the admin's id, recorded as actorId in the timeline")
	c.Flags().BoolVar(&force, "force", false, "replace a payment intent the order already has")
	return c
}
