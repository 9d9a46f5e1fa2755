package main

import (
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/workers"
)

func (a *app) dlqCommand() *cobra.Command {
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the dead-letter queue, one JSON line per message (playbook §3)",
		Example: "  orderflow dlq list | jq -r 'select(.eventType==\"charge.refunded\") | .eventId'",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			be, err := a.open(cmd.Context(), backend.Parts{DLQ: true, ReadOnly: true})
			if err != nil {
				return err
			}
			entries, err := workers.ListDLQ(cmd.Context(), be.DLQ, a.clock, 0)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := a.printJSON(e); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return group("dlq", "Inspect and redrive the dead-letter queue", list, a.dlqRedriveCommand())
}
