package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/syncbridge/syncbridge/internal/state"
)

// statusReport is the JSON shape of `status --format json`.
type statusReport struct {
	Flows []flowReport `json:"flows"`
}

type flowReport struct {
	state.FlowStatus
	DLQ int `json:"dlq"`
	// LastDiff is the flow's latest reconciliation (diff or scheduled),
	// without its row lists; absent when it was never reconciled.
	LastDiff *state.Report `json:"last_diff,omitempty"`
}

func newStatusCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each flow's phase, position, applied count, lag, DLQ depth and last error",
		Long: `status reads the state store (it does not contact the data stores) and shows,
per flow: its phase (backfill, stream, stopped, error), the last checkpointed
position, backfilled rows, changes applied, end-to-end lag at the last commit,
how many changes wait in the dead-letter queue, and the last error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			cfg, st, err := g.openStateOnly(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			statuses, err := st.Statuses(cmd.Context())
			if err != nil {
				return failedErr(fmt.Errorf("read status: %w", err))
			}
			dlq, err := st.DLQ(cmd.Context(), "")
			if err != nil {
				return failedErr(fmt.Errorf("read dead-letter queue: %w", err))
			}
			depth := map[string]int{}
			for _, e := range dlq {
				depth[e.Flow]++
			}
			byFlow := map[string]state.FlowStatus{}
			for _, s := range statuses {
				byFlow[s.Flow] = s
			}
			var rep statusReport
			for _, f := range cfg.Flows {
				s, ok := byFlow[f.Name]
				if !ok {
					s = state.FlowStatus{Flow: f.Name, Phase: "new"}
				}
				fr := flowReport{FlowStatus: s, DLQ: depth[f.Name]}
				last, err := st.Reports(cmd.Context(), f.Name, 1)
				if err != nil {
					return failedErr(fmt.Errorf("read reconciliation reports: %w", err))
				}
				if len(last) > 0 {
					fr.LastDiff = &last[0]
					fr.LastDiff.Detail = nil
				}
				rep.Flows = append(rep.Flows, fr)
			}
			if format == "json" {
				return writeJSON(g.stdout, rep)
			}
			t := newTable(g.stdout)
			fmt.Fprintln(t, "FLOW\tPHASE\tBACKFILLED\tAPPLIED\tLAG\tDLQ\tPOSITION\tUPDATED\tLAST DIFF\tLAST ERROR")
			for _, f := range rep.Flows {
				updated := "-"
				if !f.UpdatedAt.IsZero() {
					updated = f.UpdatedAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(t, "%s\t%s\t%d\t%d\t%.1fs\t%d\t%s\t%s\t%s\t%s\n", f.Flow, f.Phase, f.BackfillRows, f.Applied,
					f.LagSeconds, f.DLQ, orDash(f.Position), updated, lastDiffText(f.LastDiff), orDash(f.LastError))
			}
			t.Flush()
			for _, f := range rep.Flows {
				if f.DLQ > 0 || f.Phase == "error" {
					return failedErr(fmt.Errorf("some flows need attention (see DLQ and LAST ERROR)"))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// lastDiffText summarizes a reconciliation for the status table.
func lastDiffText(r *state.Report) string {
	if r == nil {
		return "-"
	}
	at := r.StartedAt.Local().Format(time.DateTime)
	if r.InSync {
		return "in sync at " + at
	}
	s := fmt.Sprintf("drift at %s: %d missing, %d extra, %d different", at, r.Missing, r.Extra, r.Different)
	if r.Repaired > 0 {
		s += fmt.Sprintf(", %d repaired", r.Repaired)
	}
	return s
}
