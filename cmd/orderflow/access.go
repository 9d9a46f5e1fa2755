package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/workers"
)

func (a *app) accessCommand() *cobra.Command {
	var user, product string
	check := &cobra.Command{
		Use:   "check --user <userId> --product <productId>",
		Short: "Say whether a buyer may download a product, as GET /v1/access answers (playbook §8, §13)",
		Long: `Prints the body GET /v1/access answers (SPEC §13), from UserIndex:
  {"allowed":true,"orderId":…}                               a completed order grants it
  {"allowed":false,"reason":"requires_review","orderIds":[…]} a granting order is flagged (HTTP 423);
                                                              clear it with orders clear-review
  {"allowed":false,"reason":"no_order"}                       no completed order (HTTP 403)
  {"allowed":false,"reason":"downloads_disabled"}             DOWNLOADS_DISABLED=true (HTTP 403)
A denial is an answer, not an error: the exit status is 0 whenever the check
answered (use jq -e .allowed for a shell test).`,
		Example: `  orderflow access check --user usr_1 --product prd_1`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(user) == "" || strings.TrimSpace(product) == "" {
				return usagef("access check needs --user <userId> and --product <productId>")
			}
			checker := workers.AccessChecker{Disabled: a.cfg.DownloadsDisabled}
			if !checker.Disabled {
				be, err := a.open(cmd.Context(), backend.Parts{Store: true, ReadOnly: true})
				if err != nil {
					return err
				}
				checker.Store = be.Store
			}
			d, err := checker.Check(cmd.Context(), user, product)
			if err != nil {
				return err
			}
			return a.printJSON(d)
		},
	}
	check.Flags().StringVar(&user, "user", "", "the buyer's userId")
	check.Flags().StringVar(&product, "product", "", "the productId")
	return group("access", "Download access (SPEC §13)", check)
}
