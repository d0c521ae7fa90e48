package connector

import (
	"context"

	"github.com/syncbridge/syncbridge/internal/change"
)

// The capabilities below serve both-way flows: conflict detection needs the
// rows a store holds now, read consistently with the writes that follow.

// TxReader is implemented by sink transactions that can read the target's
// current rows inside the transaction, locked so that no other writer can
// change them before the transaction ends: PostgreSQL reads them with
// SELECT ... FOR UPDATE; SQLite's sink transaction already holds the
// database's write lock. A decision taken on these rows and applied in the
// same transaction is a compare-and-set: nothing can slip in between.
//
// Current may be called between Apply calls and sees their effects. It
// returns every column of each row that exists, keyed by Key.String() of the
// sink's key (SinkSpec.Key order); keys without a row are absent from the
// map. An error leaves the transaction unusable: roll it back.
type TxReader interface {
	Current(ctx context.Context, keys []change.Key) (map[string]change.Row, error)
}

// RowsRequest asks for the rows of Table whose Key columns hold one of Keys.
type RowsRequest struct {
	Table string
	Key   []string // key columns, in the order of each Keys entry
	Keys  []change.Key
	// After lists source transactions (Change.TxID) the stream has
	// delivered: the read must see their commits. A store whose capture
	// can deliver a commit before new snapshots see it (PostgreSQL logical
	// decoding) waits for them first.
	After []string
}

// RowReader is implemented by stores that can read rows by key outside any
// transaction, without locks: a committed snapshot of each row. It returns
// every column of each row that exists, keyed by Key.String(). It may be
// called concurrently with anything else on the store.
type RowReader interface {
	ReadRows(ctx context.Context, req RowsRequest) (map[string]change.Row, error)
}

// OriginMarker is implemented by sinks that mark their writes with a name
// their store's capture reports in Change.Origin (a PostgreSQL replication
// origin). A both-way flow drops captured changes carrying the origin of one
// of its own sinks: they are its own writes coming back. Origin returns ""
// when the sink does not mark its writes (SuppressCapture is off, or the
// store suppresses capture of them by other means, like SQLite's triggers).
type OriginMarker interface {
	Origin() string
}
