package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/reconcile"
	"github.com/syncbridge/syncbridge/internal/server"
	"github.com/syncbridge/syncbridge/internal/state"
	"golang.org/x/sync/errgroup"
)

func newRunCmd(g *globals) *cobra.Command {
	var once bool
	var flows []string
	var noProgress bool
	var fault string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run every flow continuously, or with --once catch up and exit",
		Long: `run checks the configuration (as validate does) before writing anything, then
runs every flow: a new flow is backfilled in key order, then streams changes
from the position taken before its backfill. Flows listed under after: are
backfilled first.

Without --once it runs until SIGINT or SIGTERM; on a signal it stops
gracefully: the batch in hand is committed with its checkpoint or rolled back,
never half-applied.

With --once it backfills what is new, catches up to the position each source
had when the command started, checkpoints and exits 0 (the Kubernetes CronJob
mode). Only one instance may run a flow at a time: a second run on the same
state store refuses the flows the first one holds (exit 1).

A progress bar shows backfills when stderr is a terminal.`,
		Example: `  syncbridge run -c syncbridge.yaml
  syncbridge run -c syncbridge.yaml --once
  syncbridge run -c syncbridge.yaml --once --flow customers`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			m := observe.NewMetrics()
			s, err := g.openSession(ctx, m)
			if err != nil {
				return err
			}
			defer s.Close()
			cfg, plan, st, log, eng := s.cfg, s.plan, s.st, s.log, s.eng
			eng.Fault = fault
			if !noProgress {
				p := newProgress(g.stderr)
				eng.Progress, eng.ProgressDone = p.update, p.done
			}
			rec := &reconcile.Runner{State: st, Metrics: m, Log: log, Recheck: time.Second}
			eng.Reconcile = func(ctx context.Context, flow string) error {
				fp, _ := plan.Flow(flow)
				rep, err := rec.Run(ctx, fp, fp.Cfg.Reconcile.Repair, false)
				if err == nil && rep.Drift() {
					log.Warn("reconciliation found drift", "flow", flow, "missing", len(rep.Missing),
						"extra", len(rep.Extra), "different", len(rep.Different), "repaired", rep.Repair != nil)
				}
				return err
			}
			log.Info("starting", "flows", len(plan.Flows), "once", once, "state", cfg.State)

			grp, gctx := errgroup.WithContext(ctx)
			runCtx, stopHTTP := context.WithCancel(gctx)
			if cfg.HTTP.Listen != "" && cfg.HTTP.Listen != "off" {
				srv := &server.Server{Addr: cfg.HTTP.Listen, Token: cfg.HTTP.Token, Gatherer: m.Registry,
					Ready: readiness(m, plan), Log: log, API: &server.API{State: st, Flows: flowNames(plan)}}
				grp.Go(func() error { return srv.Run(runCtx) })
			}
			grp.Go(func() error {
				defer stopHTTP()
				return eng.Run(gctx, engine.RunOptions{Once: once, Flows: flows})
			})
			err = grp.Wait()
			if err != nil {
				return failedErr(err)
			}
			log.Info("stopped")
			if !once {
				return nil
			}
			statuses, err := st.Statuses(context.WithoutCancel(ctx))
			if err != nil {
				return failedErr(fmt.Errorf("read status: %w", err))
			}
			printRunSummary(g.stdout, statuses, plan)
			return parkedError(ctx, st, plan)
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "catch up to the sources' current position, checkpoint and exit")
	cmd.Flags().StringSliceVar(&flows, "flow", nil, "run only these flows (repeatable)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "never draw a progress bar")
	// --fault is for crash tests: see engine.Engine.Fault.
	cmd.Flags().StringVar(&fault, "fault", "", "kill the process at a point of a both-way transaction (crash tests)")
	_ = cmd.Flags().MarkHidden("fault")
	return cmd
}

// parkedError reports changes waiting in the dead-letter queue, so a
// CronJob run that parked work exits 1 instead of looking clean.
func parkedError(ctx context.Context, st state.Store, plan *engine.Plan) error {
	entries, err := st.DLQ(context.WithoutCancel(ctx), "")
	if err != nil {
		return failedErr(fmt.Errorf("read dead-letter queue: %w", err))
	}
	n := 0
	for _, e := range entries {
		if _, ok := plan.Flow(e.Flow); ok {
			n++
		}
	}
	if n > 0 {
		return failedErr(fmt.Errorf("%d changes are parked in the dead-letter queue: see `syncbridge dlq list`", n))
	}
	return nil
}

func flowNames(plan *engine.Plan) []string {
	out := make([]string, len(plan.Flows))
	for i, f := range plan.Flows {
		out[i] = f.Cfg.Name
	}
	return out
}

// readiness is ready when every flow's pipeline is up.
func readiness(m *observe.Metrics, plan *engine.Plan) func() (bool, string) {
	return func() (bool, string) {
		for _, f := range plan.Flows {
			if gaugeValue(m.FlowUp.WithLabelValues(f.Cfg.Name)) != 1 {
				return false, fmt.Sprintf("flow %s is not running", f.Cfg.Name)
			}
		}
		return true, ""
	}
}
