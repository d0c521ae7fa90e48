// Command syncbridge keeps heterogeneous datastores in sync.
package main

import (
	"context"
	"os"

	"github.com/syncbridge/syncbridge/internal/cli"
)

func main() {
	os.Exit(cli.Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
