package connector

import (
	"context"

	"github.com/syncbridge/syncbridge/internal/change"
)

// ChecksumColumn is one column of a checksummed row: the store's column name,
// and the kind its values are normalized as (the flow's target column kind,
// so that both sides of a flow hash the same text for equal data).
type ChecksumColumn struct {
	Name string
	Kind change.Kind
	// TrimSpace drops trailing spaces before hashing: one side of the flow
	// is a blank-padded CHAR column.
	TrimSpace bool
}

// ChecksumRequest asks for the count and checksum of the rows of Table with
// key in (After, Until]; nil bounds are open.
type ChecksumRequest struct {
	Table   string
	Key     []string
	Columns []ChecksumColumn // in this order
	After   change.Key
	Until   change.Key
}

// Checksum is the row count and order-independent checksum of a key range.
// Sum is the sum, modulo 2^64, over the rows, of the first 8 bytes (read
// big-endian) of the MD5 of each row's normalized text. Both parts are
// additive over disjoint ranges, which is what lets reconciliation combine
// and bisect them. The normalized text is defined by reconcile.RowText.
type Checksum struct {
	Count int64
	Sum   uint64
}

// Add returns the checksum of the union of two disjoint ranges.
func (c Checksum) Add(o Checksum) Checksum {
	return Checksum{Count: c.Count + o.Count, Sum: c.Sum + o.Sum}
}

// Checksummer is implemented by stores that can compute a Checksum inside
// the database, so reconciliation reads a few bytes per range instead of its
// rows. It is called concurrently with writes; the result reflects one
// snapshot of the range. It returns an error wrapping errors.ErrUnsupported
// when it cannot normalize a column in SQL (a kind it has no expression
// for); the caller then streams the rows and hashes them itself.
type Checksummer interface {
	Checksum(ctx context.Context, req ChecksumRequest) (Checksum, error)
}

// Segmenter is implemented by stores that can cut a key range into parts
// and checksum the parts in one pass each. With it on both stores of a
// flow, reconciliation bisects the key space without reading keys page by
// page: it reads a few bytes per part, and rows only where parts differ.
// Its methods are called concurrently with writes and with each other.
type Segmenter interface {
	Checksummer
	// SplitKeys returns at most parts-1 keys within (After, Until], in key
	// order, that cut the range into parts of about equal row counts; they
	// need not be keys of rows (an integer key may be cut by value). rows
	// is the range's row count as last checksummed (0 when unknown: the
	// store counts); the parts are even when it is accurate and still
	// valid ranges when it is not. Fewer keys come back when the range
	// holds fewer rows.
	SplitKeys(ctx context.Context, req ChecksumRequest, rows int64, parts int) ([]change.Key, error)
	// ChecksumSegments returns the checksums of (After, bounds[0]],
	// (bounds[0], bounds[1]], ..., (bounds[n-1], Until]: len(bounds)+1
	// results. bounds are in key order; they may come from another store,
	// whose key values are bound as this store's key column types. Errors
	// are as for Checksum.
	ChecksumSegments(ctx context.Context, req ChecksumRequest, bounds []change.Key) ([]Checksum, error)
}
