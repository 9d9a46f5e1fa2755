package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/workers"
)

func (a *app) ordersCommand() *cobra.Command {
	return group("orders", "Create, read, list and correct orders",
		a.ordersPutCommand(), a.ordersGetCommand(), a.ordersListCommand(),
		a.ordersClearReviewCommand(), a.ordersMarkRefundedCommand(), a.ordersBackfillCommand(),
		a.ordersLinkCommand(), a.ordersRefundCommand(),
	)
}

func (a *app) ordersPutCommand() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "put -f order.json",
		Short: "Create an order (error if it exists)",
		Example: `  orderflow orders put -f order.json
  echo '{"id":"ord_1","userId":"usr_1","sellerId":"sel_1","productId":"prd_1","amount":2000,"currency":"usd"}' | orderflow orders put -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("orders put needs -f FILE (or -f - for standard input)")
			}
			raw, err := readInput(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			// Strict: one JSON value, keys exactly as SPEC §2 spells them and
			// no unknown ones, so what is stored is what the file says.
			var o domain.Order
			if err := domain.DecodeStrictKnown(raw, &o); err != nil {
				return fmt.Errorf("%s is not an order: %v", inputName(file), err)
			}
			if err := checkNewOrder(o); err != nil {
				return fmt.Errorf("%s: %w", inputName(file), err)
			}
			o, err = domain.NewOrder(o, a.clock.Now())
			if err != nil {
				return err
			}
			if raw, err := json.Marshal(o); err == nil && len(raw) > maxNewOrderBytes {
				return fmt.Errorf("%s: %w: the order is %d bytes, more than %d: DynamoDB items stop at 400 KB, and orderflow appends timeline entries to it (trim its timeline)",
					inputName(file), domain.ErrInvalid, len(raw), maxNewOrderBytes)
			}
			be, err := a.open(cmd.Context(), backend.Parts{Store: true})
			if err != nil {
				return err
			}
			if o.StripePaymentIntentID != "" {
				// A payment belongs to one order: with two, an event found
				// by its intent would go to whichever the index lists first.
				var holder string
				err := be.Store.List(cmd.Context(), domain.Filter{PaymentIntentID: o.StripePaymentIntentID}, func(other domain.Order) error {
					holder = other.ID
					return errStopList
				})
				if err != nil && !errors.Is(err, errStopList) {
					return err
				}
				if holder != "" && holder != o.ID {
					return fmt.Errorf("%s: %w: payment intent %s is already the payment of order %s", inputName(file), domain.ErrInvalid, o.StripePaymentIntentID, holder)
				}
			}
			if err := be.Store.Create(cmd.Context(), o); err != nil {
				if errors.Is(err, domain.ErrAlreadyExists) {
					return fmt.Errorf("order %s already exists", o.ID)
				}
				return err
			}
			return a.printJSON(o)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "order JSON file (SPEC §2 field names), - for stdin")
	return c
}

// maxInput bounds what readInput takes: an order is a few KB, and a bound
// keeps a wrong file (a log, a dump) from being read whole into memory.
const maxInput = 1 << 20

// readInput reads file, or standard input for "-", and refuses more than
// maxInput bytes with a clear error instead of cutting the input short.
func readInput(file string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, errors.Unwrap(err))
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", inputName(file), err)
	}
	if len(raw) > maxInput {
		return nil, fmt.Errorf("%s is larger than 1 MiB; an order is a single small JSON object", inputName(file))
	}
	return raw, nil
}

// inputName is how messages name the -f argument.
func inputName(file string) string {
	if file == "-" {
		return "standard input"
	}
	return file
}

func (a *app) ordersGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "get <id>",
		Short:   "Print an order",
		Example: "  orderflow orders get ord_123",
		Args:    exactArgs(1, "one order id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			be, err := a.open(cmd.Context(), backend.Parts{Store: true, ReadOnly: true})
			if err != nil {
				return err
			}
			o, err := be.Store.Get(cmd.Context(), args[0])
			if err != nil {
				return orderError(args[0], err)
			}
			return a.printJSON(o)
		},
	}
}

func orderError(id string, err error) error {
	if errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("order %s not found", id)
	}
	return err
}

func (a *app) ordersListCommand() *cobra.Command {
	var f domain.Filter
	var status string
	var review bool
	c := &cobra.Command{
		Use:   "list [--status S] [--user U] [--seller S] [--payment-intent PI] [--requires-review]",
		Short: "List orders as JSON lines, answered from the matching index (playbook §8)",
		Example: `  orderflow orders list --requires-review
  orderflow orders list --status pending --user usr_1
  orderflow orders list --payment-intent pi_123`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// An empty value would match everything: a lookup by index
			// turned into a listing of the whole table.
			for _, name := range []string{"status", "user", "seller", "payment-intent"} {
				if fl := cmd.Flags().Lookup(name); fl.Changed && strings.TrimSpace(fl.Value.String()) == "" {
					return usagef("--%s needs a value", name)
				}
			}
			if status != "" {
				f.Status = domain.Status(status)
				if !f.Status.Valid() {
					return usagef("--status %q: want pending, completed, cancelled or refunded", status)
				}
			}
			if cmd.Flags().Changed("requires-review") {
				f.RequiresReview = &review
			}
			be, err := a.open(cmd.Context(), backend.Parts{Store: true, ReadOnly: true})
			if err != nil {
				return err
			}
			return be.Store.List(cmd.Context(), f, func(o domain.Order) error { return a.printJSON(o) })
		},
	}
	c.Flags().StringVar(&status, "status", "", "pending, completed, cancelled or refunded (StatusIndex)")
	c.Flags().StringVar(&f.UserID, "user", "", "buyer id (UserIndex)")
	c.Flags().StringVar(&f.SellerID, "seller", "", "seller id (SellerIndex)")
	c.Flags().StringVar(&f.PaymentIntentID, "payment-intent", "", "Stripe PaymentIntent id (PaymentIntentIndex)")
	c.Flags().BoolVar(&review, "requires-review", false, "only orders flagged for review (--requires-review=false for unflagged)")
	return c
}

// operatorCommand builds clear-review and mark-refunded: one workers.Operator
// use-case, the same the admin API and console call.
func (a *app) operatorCommand(use, short, example string, action func(workers.Operator, context.Context, string, string) (domain.Order, error)) *cobra.Command {
	var actor string
	c := &cobra.Command{
		Use: use + " <id> --actor <adminId>", Short: short, Example: example,
		Args: exactArgs(1, "one order id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(actor) == "" {
				return usagef("%s needs --actor <adminId> (recorded in the timeline)", cmd.CommandPath())
			}
			be, err := a.open(cmd.Context(), backend.Parts{Store: true})
			if err != nil {
				return err
			}
			o, err := action(workers.Operator{Store: be.Store, Clock: a.clock}, cmd.Context(), args[0], actor)
			if err != nil {
				return orderError(args[0], err)
			}
			return a.printJSON(o)
		},
	}
	c.Flags().StringVar(&actor, "actor", "", "the admin's id, recorded as actorId in the timeline")
	return c
}

func (a *app) ordersClearReviewCommand() *cobra.Command {
	return a.operatorCommand("clear-review", "Clear an order's review flag after checking it (playbook §2, §8)",
		"  orderflow orders clear-review ord_123 --actor adm_42", workers.Operator.ClearReview)
}

func (a *app) ordersMarkRefundedCommand() *cobra.Command {
	return a.operatorCommand("mark-refunded", "Record a refund made outside Stripe webhooks (playbook §4)",
		"  orderflow orders mark-refunded ord_123 --actor adm_42", workers.Operator.MarkRefunded)
}

// errStopList ends a store listing at its first order.
var errStopList = errors.New("stop")

// maxNewOrderBytes bounds an order written by `orders put` (as JSON): DynamoDB
// refuses items over 400 KB, so without it one backend would take an import
// the other refuses, and room is kept for the entries Stripe events add.
const maxNewOrderBytes = 300 << 10

// checkNewOrder refuses what only orderflow itself may write into a new
// order (the events it applied, its version and clocks: a preset
// appliedEvents would swallow that event) and status pairs that no
// transition produces. A timeline and a completed status without a payment
// intent stay allowed: importing legacy orders (playbook §7, then
// backfill-payment-intents) needs both. Reported all at once.
func checkNewOrder(o domain.Order) error {
	var problems []string
	if len(o.AppliedEvents) > 0 {
		problems = append(problems, "appliedEvents is written by orderflow")
	}
	if o.Version != 0 {
		problems = append(problems, "version is written by orderflow")
	}
	if len(o.StripeClock) > 0 {
		problems = append(problems, "stripeClock is written by orderflow")
	}
	if len(o.OtherPaymentIntentIDs) > 0 {
		problems = append(problems, "otherPaymentIntentIds is written by orderflow")
	}
	if !o.UpdatedAt.IsZero() {
		problems = append(problems, "updatedAt is written by orderflow")
	}
	if o.RequiresReview && strings.TrimSpace(o.ReviewReason) == "" {
		problems = append(problems, "requiresReview needs a reviewReason")
	}
	if !o.RequiresReview && o.ReviewReason != "" {
		problems = append(problems, "reviewReason needs requiresReview")
	}
	if o.StripePaymentIntentID != "" {
		if err := domain.CheckPaymentIntentID(o.StripePaymentIntentID); err != nil {
			problems = append(problems, "stripePaymentIntentId is not a Stripe payment intent id (pi_…)")
		}
	}
	allowed := map[domain.Status][]domain.PaymentStatus{
		"":                     {"", domain.PaymentPending, domain.PaymentFailed},
		domain.StatusPending:   {"", domain.PaymentPending, domain.PaymentFailed},
		domain.StatusCompleted: {domain.PaymentPaid},
		domain.StatusCancelled: {"", domain.PaymentPending, domain.PaymentFailed},
		domain.StatusRefunded:  {domain.PaymentRefunded},
	}
	if ok, known := allowed[o.Status]; known && !slices.Contains(ok, o.PaymentStatus) {
		problems = append(problems, fmt.Sprintf("status %q with paymentStatus %q is a pair no transition produces", o.Status, o.PaymentStatus))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}
