package connector

import (
	"context"
	"io"

	"github.com/syncbridge/syncbridge/internal/change"
)

// CopySource is implemented by sources that can write a backfill chunk in a
// store's bulk-load format, without turning rows into Changes. The engine
// uses it only with a CopySink of the same CopyFormat, for a flow that
// copies every column unchanged into columns of the same declared types;
// any other flow backfills through Snapshot.
type CopySource interface {
	// CopyFormat names the format CopyChunk writes, e.g. "postgres-text".
	CopyFormat() string
	// CopyChunk writes up to limit rows with key greater than after (all
	// rows when after is nil), in ascending key order, every column of the
	// source table in table order, to w. It returns the key of the last row
	// written (nil when none) and how many rows it wrote; fewer than limit
	// means the table has been read to its end. Like Snapshot it is called
	// from one goroutine at a time, never concurrently with Snapshot.
	CopyChunk(ctx context.Context, after change.Key, limit int, w io.Writer) (last change.Key, n int, err error)
}

// CopySink is implemented by sinks whose transactions implement CopyTx for
// data in CopyFormat.
type CopySink interface {
	CopyFormat() string
}

// CopyTx is implemented by the transactions of a CopySink.
type CopyTx interface {
	// CopyUpsert writes the rows in data (a CopySource's output in the
	// sink's CopyFormat, holding the columns cols) as upserts by key, like
	// Apply does with OpSnapshot changes. An error leaves the transaction
	// unusable: roll it back. A row the target rejects (a constraint, a
	// value it cannot take) fails the whole call; the caller may apply the
	// same rows as Changes to find it.
	CopyUpsert(ctx context.Context, data []byte, cols []string) error
}
