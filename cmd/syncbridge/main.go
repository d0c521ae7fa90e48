// Command syncbridge keeps heterogeneous datastores in sync.
package main

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/syncbridge/syncbridge/internal/cli"
)

// gcPercent is the default GOGC. The live heap is small and bounded by the
// batch size, so collecting at 4× instead of 2× of it trades a few tens of
// MiB for about 15 % less CPU per change (docs/benchmarks.md). An operator's
// GOGC in the environment wins.
const gcPercent = 400

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(cli.Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
