package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/syncbridge/syncbridge/internal/engine"
)

func newDLQCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, replay or drop changes parked in the dead-letter queue",
		Long: `A change that cannot be applied (a constraint violation, a value the target
cannot hold, a mapping error) is parked in the dead-letter queue with its error
and full envelope; the flow goes on with other keys, and later changes to the
same key are parked behind it ("waiting") so order is kept. Fix the cause (the
target schema, the data, or the mapping in the config), then replay.`,
	}
	cmd.AddCommand(newDLQListCmd(g), newDLQReplayCmd(g), newDLQDropCmd(g))
	return cmd
}

func newDLQListCmd(g *globals) *cobra.Command {
	var format, flow string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List parked changes, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			_, st, err := g.openStateOnly(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			entries, err := st.DLQ(cmd.Context(), flow)
			if err != nil {
				return failedErr(fmt.Errorf("read dead-letter queue: %w", err))
			}
			if format == "json" {
				return writeJSON(g.stdout, map[string]any{"entries": entries})
			}
			if len(entries) == 0 {
				fmt.Fprintln(g.stdout, "the dead-letter queue is empty")
				return nil
			}
			t := newTable(g.stdout)
			fmt.Fprintln(t, "SEQ\tFLOW\tOP\tKEY\tPARKED\tERROR")
			for _, e := range entries {
				fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Flow, e.Change.Op, e.Key,
					e.ParkedAt.Local().Format(time.DateTime), e.Error)
			}
			return t.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	cmd.Flags().StringVar(&flow, "flow", "", "only this flow")
	return cmd
}

func newDLQReplayCmd(g *globals) *cobra.Command {
	var flow, format string
	var seqs []int64
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-apply parked changes of a flow after the cause is fixed",
		Long: `replay re-applies the parked changes of one flow, oldest first, through the
flow's current mapping (so a fixed mapping in the config takes effect) and
its sink. Applied changes leave the queue; a change that fails again stays,
together with the later changes to its key. replay takes the flow's lease: stop
the instance running the flow first. Exit 1 when something stayed parked.`,
		Example: `  syncbridge dlq replay -c syncbridge.yaml --flow customers
  syncbridge dlq replay -c syncbridge.yaml --flow customers --seq 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if flow == "" {
				return usageErr(errors.New("--flow is required"))
			}
			s, err := g.openSession(cmd.Context(), nil)
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := s.eng.ReplayDLQ(cmd.Context(), flow, seqs)
			if err != nil {
				return failedErr(err)
			}
			failed := 0
			for _, r := range res {
				if !r.Applied {
					failed++
				}
			}
			if format == "json" {
				if err := writeJSON(g.stdout, map[string]any{"results": res}); err != nil {
					return err
				}
			} else {
				for _, r := range res {
					if r.Applied {
						fmt.Fprintf(g.stdout, "applied  seq %d  %s key %s\n", r.Entry.Seq, r.Entry.Change.Op, r.Entry.Key)
					} else {
						fmt.Fprintf(g.stdout, "parked   seq %d  %s key %s: %s\n", r.Entry.Seq, r.Entry.Change.Op, r.Entry.Key, r.Error)
					}
				}
				fmt.Fprintf(g.stdout, "%d applied, %d still parked\n", len(res)-failed, failed)
			}
			if failed > 0 {
				return failedErr(fmt.Errorf("%d changes are still parked", failed))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&flow, "flow", "", "the flow whose parked changes to replay (required)")
	cmd.Flags().Int64SliceVar(&seqs, "seq", nil, "only these entries (repeatable)")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func newDLQDropCmd(g *globals) *cobra.Command {
	var flow string
	var seqs []int64
	var all bool
	cmd := &cobra.Command{
		Use:   "drop",
		Short: "Remove parked changes without applying them (accepting their loss)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if flow == "" {
				return usageErr(errors.New("--flow is required"))
			}
			if len(seqs) == 0 && !all {
				return usageErr(errors.New("name entries with --seq, or pass --all to drop every parked change of the flow"))
			}
			_, st, err := g.openStateOnly(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := engine.DropDLQ(cmd.Context(), st, flow, seqs)
			if err != nil {
				return failedErr(err)
			}
			fmt.Fprintf(g.stdout, "dropped %d parked changes of flow %s\n", n, flow)
			return nil
		},
	}
	cmd.Flags().StringVar(&flow, "flow", "", "the flow (required)")
	cmd.Flags().Int64SliceVar(&seqs, "seq", nil, "entries to drop (repeatable)")
	cmd.Flags().BoolVar(&all, "all", false, "drop every parked change of the flow")
	return cmd
}
