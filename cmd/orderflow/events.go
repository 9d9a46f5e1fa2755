package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/stripeapi"
	"github.com/orderflow/orderflow/ingress"
	"github.com/orderflow/orderflow/workers"
)

func (a *app) eventsCommand() *cobra.Command {
	c := group("events", "Fetch events from the Stripe API and enqueue them (playbook §3)",
		a.eventsReplayCommand(), a.eventsReconcileCommand())
	c.Example = `  orderflow events replay evt_1NqX2bLkdIwHu7ix0AbCdEfG
  orderflow events reconcile --since 72h`
	return c
}

// stripeClient opens the events queue (and the secrets with it) and a Stripe
// API client on STRIPE_API_BASE.
func (a *app) stripeClient(ctx context.Context) (*backend.Backend, *stripeapi.Client, error) {
	be, err := a.open(ctx, backend.Parts{Events: true})
	if err != nil {
		return nil, nil, err
	}
	c, err := stripeapi.New(stripeapi.Config{BaseURL: a.cfg.StripeAPIBase, Keys: be.Secrets, Clock: a.clock})
	if err != nil {
		return nil, nil, err
	}
	return be, c, nil
}

func (a *app) eventsReplayCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "replay <evt_id>",
		Short: "Fetch one event from the Stripe API and enqueue it again (source replay)",
		Long: `Fetch one event from the Stripe API and enqueue it as the ingress would: same
group, attributes eventType, eventId and source=replay. Its dedup id is
<eventId>#manual-<unix seconds>, not the bare event id, so the queue's 5-minute
deduplication window of the original delivery cannot swallow an operator's
replay. Exactly-once still holds: an event already in the order's
appliedEvents (or timeline) changes nothing, however often it is replayed.
Types orderflow does not handle are reported as ignored and not enqueued.`,
		Example: `  orderflow events replay evt_1NqX2bLkdIwHu7ix0AbCdEfG`,
		Args:    exactArgs(1, "one Stripe event id (evt_…)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.TrimSpace(args[0])
			if err := workers.CheckEventID(id); err != nil {
				return usagef("%q is not a Stripe event id (evt_…)", args[0])
			}
			ctx := cmd.Context()
			be, sc, err := a.stripeClient(ctx)
			if err != nil {
				return err
			}
			res, err := workers.EventReplayer{Events: be.Events, Stripe: sc, Clock: a.clock, Logger: a.log}.Replay(ctx, id)
			if err != nil {
				return err
			}
			return a.printJSON(res)
		},
	}
}

// reconcileResult is the summary line of `events reconcile`.
type reconcileResult struct {
	Listed   int `json:"listed"`
	Enqueued int `json:"enqueued"`
	Ignored  int `json:"ignored"`
}

func (a *app) eventsReconcileCommand() *cobra.Command {
	var since string
	c := &cobra.Command{
		Use:   "reconcile --since D",
		Short: "Enqueue every event Stripe could not deliver in the last D (at most 720h)",
		Long: `List the events of the last D whose delivery has not succeeded
(delivery_success=false) from the Stripe API and enqueue each handled type as
the ingress would, with the event id as dedup id: an event Stripe delivers
meanwhile is dropped by the queue's deduplication window, and one applied
before changes nothing (appliedEvents). Stripe keeps events 30 days, so D is at
most 720h (30d). Prints {"listed":N,"enqueued":N,"ignored":N}.`,
		Example: `  orderflow events reconcile --since 72h
  orderflow events reconcile --since 7d`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			window, err := parseWindow(since)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			be, sc, err := a.stripeClient(ctx)
			if err != nil {
				return err
			}
			var res reconcileResult
			update, finish := a.progress("reconcile", -1)
			err = sc.ListUndelivered(ctx, a.clock.Now().Add(-window), func(raw []byte) error {
				res.Listed++
				defer update(res.Listed)
				ev, err := domain.ParseEvent(raw)
				if err != nil {
					a.log.Warn("listed item is not a Stripe event; skipped", zap.Error(err))
					res.Ignored++
					return nil
				}
				if !domain.IsAccepted(ev.Type) {
					res.Ignored++
					return nil
				}
				msg := ingress.Route(ev, raw, domain.SourceReplay)
				if _, err := domain.Enqueue(ctx, be.Events, msg); err != nil {
					return fmt.Errorf("enqueue event %s: %w", ev.ID, err)
				}
				res.Enqueued++
				a.log.Info("undelivered event enqueued", zap.String("eventId", ev.ID), zap.String("eventType", ev.Type), zap.String("group", msg.GroupID))
				return nil
			})
			finish()
			if err != nil {
				return err
			}
			return a.printJSON(res)
		},
	}
	c.Flags().StringVar(&since, "since", "", "how far back, e.g. 72h or 7d (at most 720h)")
	return c
}

// parseWindow reads --since: a Go duration or whole days ("7d"), more than 0
// and at most Stripe's 30-day event retention.
func parseWindow(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, usagef("events reconcile needs --since D, e.g. --since 72h")
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, usagef("--since %q is not a duration (e.g. 72h or 3d)", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, usagef("--since %q is not a duration (e.g. 72h or 3d)", s)
		}
	}
	switch {
	case d <= 0:
		return 0, usagef("--since %s: want a positive duration", s)
	case d > stripeapi.MaxEventAge:
		return 0, usagef("--since %s: at most 720h (30d); Stripe keeps events 30 days", s)
	}
	return d, nil
}
