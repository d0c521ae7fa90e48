package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/state"
)

func newConflictsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conflicts",
		Short: "List the conflicts of both-way flows, or resolve a parked one",
		Long: `A both-way flow meets a conflict when a change from one side finds that the
other side changed the same row since both last agreed on it (the base). The
flow's conflict policy decides it; every conflict is recorded with the base,
both versions, the row both sides got and why. Under the manual policy (or a
rule or merge fallback that says manual) the conflict is parked instead: both
sides keep their row, later changes to it are held, and an operator resolves
it with "conflicts resolve".`,
	}
	cmd.AddCommand(newConflictsListCmd(g), newConflictsResolveCmd(g))
	return cmd
}

func newConflictsListCmd(g *globals) *cobra.Command {
	var format, flow, status string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List recorded conflicts, oldest first",
		Long: `list shows recorded conflicts: the key, the policy, which side's change met
the conflict (ours), the winner and the reason. --status parked shows only
those waiting for an operator. Exit 1 when conflicts are parked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			switch status {
			case "all":
				status = ""
			case state.ConflictParked, state.ConflictResolved:
			default:
				return usageErr(fmt.Errorf("--status %q: use parked, resolved or all", status))
			}
			_, st, err := g.openStateOnly(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			cs, err := st.Conflicts(cmd.Context(), flow, status)
			if err != nil {
				return failedErr(fmt.Errorf("read the conflict log: %w", err))
			}
			parked := 0
			for _, c := range cs {
				if c.Status == state.ConflictParked {
					parked++
				}
			}
			if format == "json" {
				if cs == nil {
					cs = []state.Conflict{}
				}
				if err := writeJSON(g.stdout, map[string]any{"conflicts": cs}); err != nil {
					return err
				}
			} else {
				printConflicts(g, cs)
			}
			if parked > 0 {
				return failedErr(fmt.Errorf("%d conflicts are parked: resolve them with `syncbridge conflicts resolve`", parked))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	cmd.Flags().StringVar(&flow, "flow", "", "only this flow")
	cmd.Flags().StringVar(&status, "status", "all", "parked, resolved or all")
	return cmd
}

func printConflicts(g *globals, cs []state.Conflict) {
	if len(cs) == 0 {
		fmt.Fprintln(g.stdout, "no conflicts recorded")
		return
	}
	t := newTable(g.stdout)
	fmt.Fprintln(t, "SEQ\tFLOW\tKEY\tSTATUS\tPOLICY\tOURS\tWINNER\tAT\tREASON")
	for _, c := range cs {
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Seq, c.Flow, c.Key, c.Status, c.Policy, c.OursSide,
			c.Winner, c.At.Local().Format(time.DateTime), c.Reason)
	}
	t.Flush()
}

func newConflictsResolveCmd(g *globals) *cobra.Command {
	var flow, take, mergedJSON, format string
	var seq int64
	cmd := &cobra.Command{
		Use:   "resolve",
		Short: "Resolve a parked conflict: one side's row, or a merged row, goes to both sides",
		Long: `resolve settles a parked conflict of a both-way flow. --take from (or to) writes
that side's row, as it is now (edits made while the conflict was parked
included), to the other side; --take merged writes the row given with
--merged-json (columns of the flow's to table, over the to side's row) to
both sides. The base becomes that row and the conflict is recorded as
resolved. resolve takes the flow's lease: stop the instance running the flow
first.`,
		Example: `  syncbridge conflicts resolve -c syncbridge.yaml --flow customers --seq 12 --take to
  syncbridge conflicts resolve -c syncbridge.yaml --flow customers --seq 13 --take merged \
      --merged-json '{"email": "ann@example.com", "full_name": "Ann Lee"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			switch {
			case flow == "" || seq == 0 || take == "":
				return usageErr(errors.New("--flow, --seq and --take are required"))
			case take != engine.TakeFrom && take != engine.TakeTo && take != engine.TakeMerged:
				return usageErr(fmt.Errorf("--take %q: use from, to or merged", take))
			case (take == engine.TakeMerged) != (mergedJSON != ""):
				return usageErr(errors.New("--merged-json goes with --take merged, and only with it"))
			}
			s, err := g.openSession(cmd.Context(), nil)
			if err != nil {
				return err
			}
			defer s.Close()
			fp, ok := s.plan.Flow(flow)
			if !ok {
				return usageErr(fmt.Errorf("no flow named %q", flow))
			}
			var merged change.Row
			if mergedJSON != "" {
				if merged, err = engine.ParseRow(fp, []byte(mergedJSON)); err != nil {
					return usageErr(err)
				}
			}
			c, err := s.eng.ResolveConflict(cmd.Context(), flow, seq, take, merged)
			if errors.Is(err, state.ErrNotParked) {
				return usageErr(err)
			}
			if err != nil {
				return failedErr(err)
			}
			if format == "json" {
				return writeJSON(g.stdout, map[string]any{"conflict": c})
			}
			fmt.Fprintf(g.stdout, "conflict %d of flow %s (key %s) resolved: %s\n", c.Seq, c.Flow, c.Key, strings.TrimSpace(c.Reason))
			return nil
		},
	}
	cmd.Flags().StringVar(&flow, "flow", "", "the flow (required)")
	cmd.Flags().Int64Var(&seq, "seq", 0, "the conflict's seq, from `conflicts list` (required)")
	cmd.Flags().StringVar(&take, "take", "", "from, to or merged (required)")
	cmd.Flags().StringVar(&mergedJSON, "merged-json", "", `the merged row as JSON, e.g. '{"email": "a@b"}'`)
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}
