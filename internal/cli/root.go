// Package cli is the syncbridge command tree: one file per command. Commands
// return an *ExitError to choose the process exit code: 0 ok, 1 drift or
// failed work reported, 2 usage or configuration error.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/builtin"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
)

// Exit codes, part of the user-facing contract.
const (
	ExitOK     = 0
	ExitFailed = 1 // drift found or work failed (reported)
	ExitUsage  = 2 // usage or configuration error
)

// ExitError carries an exit code with its message.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

func usageErr(err error) error  { return &ExitError{Code: ExitUsage, Err: err} }
func failedErr(err error) error { return &ExitError{Code: ExitFailed, Err: err} }

// globals are the flags every command shares.
type globals struct {
	configPath string
	logLevel   string
	logFormat  string
	stdout     io.Writer
	stderr     io.Writer
}

// Execute runs the command line args and returns the exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "error:", err)
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitUsage // cobra's own errors: unknown command or flag
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "syncbridge",
		Short: "Keep heterogeneous datastores in sync: capture, map, apply, reconcile",
		Long: `syncbridge keeps datastores consistent while they run side by side. It captures
every change at the source (triggers, updated_at polling, logical replication),
maps it into the target's model, and applies it atomically and idempotently,
with a checkpoint in the same transaction, so a crash never loses or doubles a
change.

Exit codes: 0 ok, 1 drift found or work failed, 2 usage or configuration error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "syncbridge.yaml", "configuration file")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn, error (overrides log.level)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "", "log format: text or json (overrides log.format)")
	root.AddCommand(newRunCmd(g), newValidateCmd(g), newStatusCmd(g), newDLQCmd(g), newDiffCmd(g), newResetCmd(g), newConflictsCmd(g), newK8sCmd(g), newVersionCmd(g))
	return root
}

// loadConfig reads the config file; every error is a usage error.
func (g *globals) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(g.configPath)
	if err != nil {
		return nil, usageErr(err)
	}
	return cfg, nil
}

func (g *globals) logger(cfg *config.Config) (*slog.Logger, error) {
	level, format := cfg.Log.Level, cfg.Log.Format
	if g.logLevel != "" {
		level = g.logLevel
	}
	if g.logFormat != "" {
		format = g.logFormat
	}
	l, err := observe.NewLogger(g.stderr, level, format)
	if err != nil {
		return nil, usageErr(err)
	}
	return l, nil
}

// registry is the explicit list of built-in drivers.
func registry() *connector.Registry {
	r, err := connector.NewRegistry(builtin.Drivers()...)
	if err != nil {
		panic(err) // a duplicate built-in driver is a programming error
	}
	return r
}

// check loads, validates and plans; errors are usage errors listing every
// problem.
func (g *globals) check(ctx context.Context) (*config.Config, *engine.Plan, *slog.Logger, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	log, err := g.logger(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	plan, err := engine.Check(ctx, cfg, registry(), log)
	if err != nil {
		return nil, nil, nil, usageErr(fmt.Errorf("%s is not valid:\n%w", cfg.Path, indent(err)))
	}
	return cfg, plan, log, nil
}

func (g *globals) openState(ctx context.Context, cfg *config.Config) (state.Store, error) {
	st, err := state.Open(ctx, cfg.State)
	if err != nil {
		return nil, usageErr(fmt.Errorf("open state store %s: %w", config.RedactDSN(cfg.State), err))
	}
	return st, nil
}

// indent renders joined errors one per line.
func indent(err error) error {
	var lines []string
	collect(err, &lines)
	out := ""
	for _, l := range lines {
		out += "  - " + l + "\n"
	}
	return errors.New(out[:max(0, len(out)-1)])
}

func collect(err error, lines *[]string) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			collect(e, lines)
		}
		return
	}
	*lines = append(*lines, err.Error())
}
