package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/reconcile"
)

// diffReport is the JSON shape of `diff --format json`.
type diffReport struct {
	Flows []*reconcile.FlowReport `json:"flows"`
}

func newDiffCmd(g *globals) *cobra.Command {
	var format string
	var flows []string
	var repair, dryRun, noProgress bool
	var recheck time.Duration
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Compare each flow's stores without copying them; with --repair, fix the drift",
		Long: `diff compares the rows of each flow's from store, mapped as the flow maps them,
with the rows of its to store. It checksums key-range segments on both sides
and compares row by row only the segments whose checksums differ. Values are
normalized first, so equal data compares equal across engines (decimal scale,
timestamp precision and zone, booleans as 0/1, JSON key order, CHAR padding).

missing rows are in the from store but not in the to store, extra rows the
reverse, and different rows name the target columns that differ. Rows found
drifted are read again after --recheck (or the flow's current lag, when
longer); rows that changed in between are in flight and listed as moving, not
as drift.

--repair sends corrective upserts and deletes through the flow's sink, with
its checkpoint unchanged, and records them in the state store. It takes the
flow's lease, so stop the instance running the flow first. direction: both
flows are not repaired. --dry-run shows what --repair would do.

Exit codes: 0 in sync (or repaired), 1 drift found, 2 error.`,
		Example: `  syncbridge diff -c syncbridge.yaml
  syncbridge diff -c syncbridge.yaml --flow customers --format json
  syncbridge diff -c syncbridge.yaml --flow customers --repair --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if dryRun && !repair {
				return usageErr(errors.New("--dry-run only applies with --repair"))
			}
			ctx := cmd.Context()
			s, err := g.openSession(ctx, nil)
			if err != nil {
				return err
			}
			defer s.Close()
			cfg, plan, st, log, eng := s.cfg, s.plan, s.st, s.log, s.eng
			var selected []*engine.FlowPlan
			for _, name := range flows {
				fp, ok := plan.Flow(name)
				if !ok {
					return usageErr(fmt.Errorf("--flow %s: no such flow in %s", name, cfg.Path))
				}
				selected = append(selected, fp)
			}
			if len(selected) == 0 {
				selected = plan.Flows
			}
			r := &reconcile.Runner{State: st, Log: log, Recheck: recheck}
			p := newProgress(g.stderr)
			var out diffReport
			for _, fp := range selected {
				name := fp.Cfg.Name
				if !noProgress {
					r.Options.Progress = func(done, total int64) { p.updateLabel("diff "+name, name, done, total) }
				}
				var rep *reconcile.FlowReport
				run := func() error {
					rep, err = r.Run(ctx, fp, repair, dryRun)
					return err
				}
				if repair && !dryRun {
					err = eng.WithLease(ctx, name, func(ctx2 context.Context) error { return run() })
				} else {
					err = run()
				}
				p.done(name)
				if err != nil {
					return failedErr(err)
				}
				out.Flows = append(out.Flows, rep)
			}
			if format == "json" {
				if err := writeJSON(g.stdout, out); err != nil {
					return err
				}
			} else {
				printDiff(g.stdout, out)
			}
			for _, rep := range out.Flows {
				if rep.Drift() && (rep.Repair == nil || rep.Repair.DryRun || len(rep.Repair.Failed) > 0) {
					return &ExitError{Code: ExitFailed, Err: errors.New("drift found")}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	cmd.Flags().StringSliceVar(&flows, "flow", nil, "only these flows (repeatable)")
	cmd.Flags().BoolVar(&repair, "repair", false, "apply corrective upserts and deletes to the to store")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "with --repair: print the plan, change nothing")
	cmd.Flags().DurationVar(&recheck, "recheck", time.Second, "wait this long (at least the flow's lag) before confirming drifted rows; 0 = no re-check")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "never draw a progress bar")
	return cmd
}

func printDiff(w io.Writer, rep diffReport) {
	for _, f := range rep.Flows {
		state := "in sync"
		if f.Drift() {
			state = fmt.Sprintf("DRIFT: %d missing, %d extra, %d different", len(f.Missing), len(f.Extra), len(f.Different))
		}
		fmt.Fprintf(w, "flow %s: %s (%d rows compared, %d/%d segments differed, %d moving, %dms)\n",
			f.Name, state, f.RowsCompared, f.Mismatched, f.Segments, len(f.Moving), f.DurationMS)
		fmt.Fprintf(w, "  read: from %d rows / %d bytes (%s), to %d rows / %d bytes (%s)\n",
			f.From.Rows, f.From.Bytes, f.From.Checksum, f.To.Rows, f.To.Bytes, f.To.Checksum)
		for _, x := range []struct {
			label string
			rows  []reconcile.RowDiff
		}{{"missing", f.Missing}, {"extra", f.Extra}, {"different", f.Different}, {"moving", f.Moving}} {
			for _, r := range x.rows {
				line := fmt.Sprintf("  %-9s %s", x.label, keyText(r.Key))
				if len(r.Columns) > 0 {
					line += " columns " + joinComma(r.Columns)
				}
				fmt.Fprintln(w, line)
			}
		}
		if rp := f.Repair; rp != nil {
			verb := "repaired"
			if rp.DryRun {
				verb = "would repair (dry run)"
			}
			fmt.Fprintf(w, "  %s: %d upserts, %d deletes\n", verb, rp.Upserted, rp.Deleted)
			for _, m := range rp.Failed {
				fmt.Fprintf(w, "  refused by the sink: %s\n", m)
			}
		}
	}
}

func keyText(k map[string]any) string {
	parts := make([]string, 0, len(k))
	for _, c := range sortedMapKeys(k) {
		parts = append(parts, fmt.Sprintf("%s=%v", c, k[c]))
	}
	return strings.Join(parts, " ")
}

func sortedMapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
