package change

import (
	"fmt"
	"strings"
	"time"
)

// Op is what happened to a row. The zero Op is invalid.
type Op int

// The operations a Change can carry.
const (
	OpInsert Op = iota + 1
	OpUpdate
	OpDelete
	OpSnapshot // a row read during backfill
	OpTruncate // every row of the table was removed; Key and rows are empty
)

var opNames = [...]string{OpInsert: "insert", OpUpdate: "update", OpDelete: "delete", OpSnapshot: "snapshot", OpTruncate: "truncate"}

func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// MarshalText encodes the op by name.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText decodes an op name.
func (o *Op) UnmarshalText(b []byte) error {
	for i, n := range opNames {
		if i > 0 && n == string(b) {
			*o = Op(i)
			return nil
		}
	}
	return fmt.Errorf("unknown op %q", b)
}

// Row is a set of named column values.
type Row map[string]Value

// Clone returns a shallow copy of r (Values are immutable).
func (r Row) Clone() Row {
	if r == nil {
		return nil
	}
	out := make(Row, len(r))
	for k, v := range r {
		out[k] = v
	}
	return out
}

// Key is the ordered primary-key values of a row.
type Key []Value

// String renders k for messages and as a stable map key.
func (k Key) String() string {
	parts := make([]string, len(k))
	for i, v := range k {
		parts[i] = v.String()
	}
	return strings.Join(parts, "|")
}

// Compare orders keys column by column.
func (k Key) Compare(o Key) int {
	for i := 0; i < len(k) && i < len(o); i++ {
		if c := Compare(k[i], o[i]); c != 0 {
			return c
		}
	}
	return len(k) - len(o)
}

// KeyOf extracts the key columns cols from r; ok is false when one is missing.
func KeyOf(r Row, cols []string) (Key, bool) {
	k := make(Key, len(cols))
	for i, c := range cols {
		v, ok := r[c]
		if !ok {
			return nil, false
		}
		k[i] = v
	}
	return k, true
}

// Position is an opaque, totally ordered place in a source's change stream.
// Only the driver that produced it can read it; the engine stores and returns
// it. A nil Position means "no position".
type Position []byte

func (p Position) String() string { return string(p) }

// Change is the normalized envelope every source emits and every sink
// consumes.
type Change struct {
	ID            string    `json:"id"`    // unique per change: source + position + index; the dedup key
	Flow          string    `json:"flow"`  // flow name
	Op            Op        `json:"op"`    // insert, update, delete or snapshot
	Table         string    `json:"table"` // qualified table name
	Key           Key       `json:"key"`   // ordered primary-key values
	Before        Row       `json:"before,omitempty"`
	After         Row       `json:"after,omitempty"` // nil for delete
	Columns       []string  `json:"columns,omitempty"`
	CommitTime    time.Time `json:"commit_time"`
	TxID          string    `json:"tx_id,omitempty"`
	Position      Position  `json:"position,omitempty"`
	Origin        string    `json:"origin,omitempty"`
	SchemaVersion int       `json:"schema_version,omitempty"`
}

// IsUpsert reports whether c writes a row (insert, update or snapshot).
func (c *Change) IsUpsert() bool { return c.Op != OpDelete && c.Op != OpTruncate }
