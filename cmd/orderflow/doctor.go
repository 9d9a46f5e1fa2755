package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/infra/doctor"
)

func (a *app) doctorCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check this deployment against the playbook's checklists (§4, §9, §12): one JSON line per check",
		Long: `Prints {"check","ok","detail"} per check and exits 1 if any failed (SPEC §15).
AWS (ORDERFLOW_BACKEND=aws): ORDERS_TABLE and its four indexes ACTIVE; EVENTS_QUEUE_URL
and DLQ_URL exist, are FIFO, and the events queue redrives to the DLQ; the DLQ is empty.
SQLite: ORDERFLOW_DB exists (never created here), only its owner can read it, and
PRAGMA integrity_check passes; its DLQ is empty.
Both: the Stripe secret key and the webhook signing secrets are readable and well-formed
(values are never printed); Stripe accepts the key (GET /v1/balance on STRIPE_API_BASE);
an enabled webhook endpoint points at STRIPE_WEBHOOK_URL with every event type orderflow
handles (or *). Without STRIPE_WEBHOOK_URL that last check fails on AWS and is skipped
on SQLite, where events come from stripe listen.`,
		Example: `  orderflow doctor
  ORDERFLOW_BACKEND=aws STRIPE_WEBHOOK_URL=https://abc.execute-api.eu-west-1.amazonaws.com/prod/webhooks/stripe orderflow doctor | jq -c 'select(.ok|not)'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var failed []string
			var werr error
			n := 0
			doctor.Run(cmd.Context(), doctor.Options{Config: a.cfg}, func(r doctor.Result) {
				n++
				if !r.OK {
					failed = append(failed, r.Check)
				}
				if err := a.printJSON(r); err != nil && werr == nil {
					werr = err
				}
			})
			if werr != nil {
				return werr
			}
			if len(failed) > 0 {
				return fmt.Errorf("doctor: %d of %d checks failed: %s", len(failed), n, strings.Join(failed, ", "))
			}
			return nil
		},
	}
}
