package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newResetCmd(g *globals) *cobra.Command {
	var flow, store string
	var dropCapture, yes bool
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Forget a flow's checkpoint so the next run backfills it again",
		Long: `reset deletes the flow's checkpoint in its target store, so the next run takes
a new position and backfills the table again (rows already in the target are
upserted, so nothing is duplicated). Use it when the source can no longer
resume the flow: a dropped or invalidated replication slot, a pruned trigger
log. With --drop-capture it also removes what capture holds at the source for
this flow (the PostgreSQL replication slot and publication, which retain WAL
while nobody reads them); run it for flows you remove from the config.
reset takes the flow's lease: stop the instance running it first.`,
		Example: `  syncbridge reset -c syncbridge.yaml --flow customers --yes
  syncbridge reset -c syncbridge.yaml --flow customers --drop-capture --yes
  syncbridge reset -c syncbridge.yaml --store legacy --flow old_flow --drop-capture --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if flow == "" {
				return usageErr(errors.New("--flow is required"))
			}
			if !yes {
				return usageErr(errors.New("reset makes the next run backfill the whole table: pass --yes to confirm"))
			}
			s, err := g.openSession(cmd.Context(), nil)
			if err != nil {
				return err
			}
			defer s.Close()
			eng := s.eng
			if store != "" {
				if !dropCapture {
					return usageErr(errors.New("--store is for flows removed from the config: pass --drop-capture too"))
				}
				msg, err := eng.DropRemovedCapture(cmd.Context(), store, flow)
				if err != nil {
					return failedErr(err)
				}
				fmt.Fprintln(g.stdout, msg)
				return nil
			}
			did, err := eng.Reset(cmd.Context(), flow, dropCapture)
			if err != nil {
				return failedErr(err)
			}
			for _, d := range did {
				fmt.Fprintln(g.stdout, d)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&flow, "flow", "", "the flow to reset (required)")
	cmd.Flags().BoolVar(&dropCapture, "drop-capture", false, "also drop the flow's capture resources at the source (replication slot, publication)")
	cmd.Flags().StringVar(&store, "store", "", "with --drop-capture: the source store of a flow no longer in the config")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm")
	return cmd
}
