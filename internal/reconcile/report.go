package reconcile

import (
	"errors"
	"slices"

	"github.com/syncbridge/syncbridge/internal/change"
)

// ErrNoScanner is returned when a store of the flow cannot be read in key
// order, so it cannot be compared.
var ErrNoScanner = errors.New("a store of the flow cannot be scanned in key order (no connector.Scanner)")

// ErrBothWays is returned by repair of a `direction: both` flow: which side
// owns a drifted row is a conflict decision, not reconciliation's.
var ErrBothWays = errors.New("repair of direction: both flows is not supported yet; repair each side by hand or re-run the backfill")

// FlowReport is what a diff of one flow found. Its JSON shape is part of
// the user-facing contract of `syncbridge diff --format json`: fields may be
// added, none renamed.
type FlowReport struct {
	Name         string    `json:"name"`
	InSync       bool      `json:"in_sync"`
	RowsCompared int64     `json:"rows_compared"`
	Missing      []RowDiff `json:"missing"`   // in from, not in to
	Extra        []RowDiff `json:"extra"`     // in to, not in from
	Different    []RowDiff `json:"different"` // in both, some target columns differ
	// Moving lists rows that differed at first but changed between the
	// first look and the re-check: changes in flight, not drift.
	Moving     []RowDiff `json:"moving"`
	Segments   int       `json:"segments"`            // leaf segments the key space was cut into
	Mismatched int       `json:"mismatched_segments"` // leaves whose checksums differed
	From       SideStats `json:"from"`
	To         SideStats `json:"to"`
	DurationMS int64     `json:"duration_ms"`
	// Notes says how the diff went when it had to deviate from the plan
	// (the stores order keys differently, so both were streamed).
	Notes []string `json:"notes,omitempty"`
	// Repair is set when the diff was repaired (or planned with --dry-run).
	Repair *RepairReport `json:"repair,omitempty"`

	fixes []change.Change // corrective target changes, in report order
}

// RowDiff names one drifted row by its target key.
type RowDiff struct {
	Key     map[string]any `json:"key"`               // target column -> value
	Columns []string       `json:"columns,omitempty"` // target columns that differ
}

// SideStats is what reconciliation read from one store.
type SideStats struct {
	Rows       int64  `json:"rows_read"`   // rows fetched from the store
	Bytes      int64  `json:"bytes_read"`  // estimated bytes of those rows (+16 per checksum query)
	Queries    int    `json:"queries"`     // scans and checksum queries
	Unmappable int64  `json:"unmappable"`  // source rows the mapping rejects (parked in the DLQ by run)
	Checksum   string `json:"checksum_by"` // "database" or "streaming"
}

// Drift reports whether any row is missing, extra or different.
func (r *FlowReport) Drift() bool {
	return len(r.Missing)+len(r.Extra)+len(r.Different) > 0
}

// Fixes returns the corrective changes repair would apply, in the target's
// model: upserts of the mapped source row for missing and different rows,
// deletes by key for extra ones.
func (r *FlowReport) Fixes() []change.Change { return slices.Clone(r.fixes) }

// RepairReport is what repair did to one flow.
type RepairReport struct {
	DryRun   bool     `json:"dry_run"`
	Upserted int      `json:"upserted"`
	Deleted  int      `json:"deleted"`
	Failed   []string `json:"failed,omitempty"` // one message per change the sink refused
}

// jsonValue renders a key value for JSON: numbers and booleans as
// themselves, everything else as its canonical text.
func jsonValue(v change.Value) any {
	switch v.Kind {
	case change.KindNull:
		return nil
	case change.KindBool:
		return v.AsBool()
	case change.KindInt:
		return v.AsInt()
	case change.KindFloat:
		return v.AsFloat()
	}
	return v.String()
}
