package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check config, connectivity, tables, keys, types and capture settings",
		Long: `validate reads the configuration and checks, without writing anything, that
every store is reachable, every table exists and has a key, every mapped
column exists on both sides with compatible types, every expression compiles,
and each source's capture mode is possible. It prints every problem found,
each with the path of the setting and a fix, and exits 2; or prints a summary
and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, plan, _, err := g.check(cmd.Context())
			if err != nil {
				return err
			}
			defer plan.Close()
			fmt.Fprintf(g.stdout, "%s is valid: %d stores, %d flows\n", cfg.Path, len(plan.Stores), len(plan.Flows))
			for _, f := range plan.Flows {
				fmt.Fprintf(g.stdout, "  flow %-20s %s.%s -> %s.%s  key (%s)  %d columns  capture %s\n",
					f.Cfg.Name, f.Cfg.From.Store, f.Cfg.From.Table, f.Cfg.To.Store, f.Cfg.To.Table,
					joinComma(f.Key), len(f.Mapping.TargetColumns()), f.Source.Capture)
			}
			return nil
		},
	}
}
