package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
)

// Runner diffs flows, repairs them when asked, and records each run in the
// state store and the metrics. `diff` and the scheduled reconciliation in
// `run` share it.
type Runner struct {
	State   state.Store
	Metrics *observe.Metrics // nil: no metrics
	Log     *slog.Logger
	// Recheck is the least time to wait before confirming drift (--recheck);
	// the flow's current lag, when longer, is waited instead.
	Recheck time.Duration
	Options Options
}

// Run diffs fp and, with repair, applies the fixes through the flow's sink
// (dryRun only plans them). The caller holds the flow's lease when repairing
// outside `run`.
func (r *Runner) Run(ctx context.Context, fp *engine.FlowPlan, repair, dryRun bool) (*FlowReport, error) {
	if repair && fp.Cfg.Direction == config.DirectionBoth {
		return nil, fmt.Errorf("flow %s: %w", fp.Cfg.Name, ErrBothWays)
	}
	started := time.Now()
	opts := r.Options
	opts.Recheck = r.recheckDelay(ctx, fp.Cfg.Name)
	rep, err := Diff(ctx, fp, opts)
	if err != nil {
		return nil, err
	}
	if repair {
		rep.Repair = &RepairReport{DryRun: dryRun}
		for _, c := range rep.fixes {
			if c.Op == change.OpDelete {
				rep.Repair.Deleted++
			} else {
				rep.Repair.Upserted++
			}
		}
		if !dryRun && len(rep.fixes) > 0 {
			_, refused, err := engine.Correct(ctx, fp, rep.fixes)
			if err != nil {
				return rep, fmt.Errorf("flow %s: repair: %w", fp.Cfg.Name, err)
			}
			for _, f := range refused {
				rep.Repair.Failed = append(rep.Repair.Failed, fmt.Sprintf("%s key %s: %v", f.Change.Op, f.Change.Key, f.Err))
				if f.Change.Op == change.OpDelete {
					rep.Repair.Deleted--
				} else {
					rep.Repair.Upserted--
				}
			}
		}
	}
	r.record(ctx, rep, started)
	return rep, nil
}

// recheckDelay is the larger of Recheck and the flow's lag at its last
// commit: a change younger than the lag may not have reached the target.
func (r *Runner) recheckDelay(ctx context.Context, flow string) time.Duration {
	d := r.Recheck
	if d <= 0 || r.State == nil {
		return d
	}
	sts, err := r.State.Statuses(ctx)
	if err != nil {
		return d
	}
	for _, s := range sts {
		if s.Flow == flow && s.Phase == "stream" {
			d = max(d, time.Duration(s.LagSeconds*float64(time.Second)))
		}
	}
	return d
}

// record saves the report and sets the metrics. A failure to save is
// logged, not returned: the diff itself succeeded and is printed.
func (r *Runner) record(ctx context.Context, rep *FlowReport, started time.Time) {
	repaired := 0
	if rep.Repair != nil && !rep.Repair.DryRun {
		repaired = rep.Repair.Upserted + rep.Repair.Deleted
	}
	if r.State != nil && !(rep.Repair != nil && rep.Repair.DryRun) {
		detail, _ := json.Marshal(rep)
		err := r.State.SaveReport(context.WithoutCancel(ctx), state.Report{Flow: rep.Name, StartedAt: started,
			Duration: time.Since(started), InSync: rep.InSync, Missing: len(rep.Missing), Extra: len(rep.Extra),
			Different: len(rep.Different), Moving: len(rep.Moving), Repaired: repaired, Detail: detail})
		if err != nil && r.Log != nil {
			r.Log.Warn("could not record the reconciliation report", observe.KeyFlow, rep.Name, "error", err)
		}
	}
	if m := r.Metrics; m != nil {
		for kind, n := range map[string]int{"missing": len(rep.Missing), "extra": len(rep.Extra),
			"different": len(rep.Different), "moving": len(rep.Moving)} {
			m.ReconcileMismatches.WithLabelValues(rep.Name, kind).Set(float64(n))
		}
		m.ReconcileLastRun.WithLabelValues(rep.Name).Set(float64(time.Now().Unix()))
		m.ReconcileDuration.WithLabelValues(rep.Name).Set(time.Since(started).Seconds())
	}
}
