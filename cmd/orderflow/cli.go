package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/logging"
	"github.com/orderflow/orderflow/infra/metrics"
)

// usageError marks a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// app is what every command shares: streams, configuration and lazily opened
// adapters.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	logFormat      string
	cfg            config.Config
	log            *zap.Logger
	metrics        *metrics.Recorder
	clock          domain.Clock
	be             *backend.Backend
}

// run executes the command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv, clock: domain.SystemClock{}}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.be != nil {
		_ = a.be.Close()
	}
	if a.log != nil {
		_ = a.log.Sync()
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "orderflow: %s\n", oneLine(err.Error()))
	var u usageError
	if errors.As(err, &u) || isCobraUsage(err) {
		return 2
	}
	return 1
}

// isCobraUsage recognises the errors cobra returns for a bad command line.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "orderflow",
		Short:         "Stripe webhooks to ordered, exactly-once order changes",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.loadConfig(cmd.Name() == "serve")
		},
	}
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "", "log format: json or console (default ORDERFLOW_LOG_FORMAT, else json)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.Args = noArgs
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		return usagef("orderflow needs a command (see orderflow --help)")
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(a.serveCommand(), a.ordersCommand(), a.cleanupCommand(), a.dlqCommand(), a.eventsCommand(),
		a.awsCommand(), a.accessCommand(), a.doctorCommand(), a.adminCommand())
	return root
}

// noArgs rejects stray words, so a typo in a subcommand name is an error
// (exit 2) instead of silently printing help.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// group is a command that only holds subcommands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use: use, Short: short, Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("%s needs a subcommand (see %s --help)", cmd.CommandPath(), cmd.CommandPath())
		},
	}
	c.AddCommand(subs...)
	return c
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s (see %s --help)", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

func (a *app) loadConfig(serving bool) error {
	cfg, err := config.Load(a.getenv)
	if err != nil {
		return err
	}
	// An operator command answers on stdout; its progress lines would only
	// bury that, so it logs warnings and errors unless LOG_LEVEL says more.
	if !serving && a.getenv("LOG_LEVEL") == "" {
		cfg.LogLevel = "warn"
	}
	if a.logFormat != "" {
		cfg.LogFormat = a.logFormat
		if err := cfg.Validate(); err != nil {
			return usageError{err}
		}
	}
	a.cfg = cfg
	log, err := logging.New(a.stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	a.log = log
	// EMF lines are for CloudWatch: serve's JSON log may be shipped there; on
	// a console, or after an operator command, they would only bury the output.
	if serving && cfg.LogFormat == "json" {
		a.metrics = metrics.New(a.stderr)
	}
	return nil
}

// open opens the backend once per command.
func (a *app) open(ctx context.Context, parts backend.Parts) (*backend.Backend, error) {
	if a.be != nil {
		return a.be, nil
	}
	be, err := backend.Open(ctx, a.cfg, parts, a.log)
	if err != nil {
		return nil, err
	}
	a.be = be
	return be, nil
}

// printJSON writes v as one JSON line on stdout.
func (a *app) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}
