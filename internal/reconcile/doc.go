// Package reconcile finds drift between the two stores of a flow without
// copying them, and builds the corrective changes that repair it.
//
// # Model
//
// Rows are compared in the target's model: a from-side row is mapped by the
// flow's transform.Mapping (as an OpSnapshot change, so filters apply), a
// to-side row is taken as it is, and both are reduced to a normalized text
// over the flow's target columns (RowText, Normalize): decimals by numeric
// value, timestamps as UTC microseconds, booleans against 0/1 per the target
// column's kind, NULL distinct from ”, JSON re-marshalled, CHAR padding
// trimmed. Equal data therefore hashes equal whichever engine holds it.
//
// A key range's checksum is its row count plus the sum, modulo 2^64, of a
// 64-bit hash of each row text (connector.Checksum). Sums add up over
// disjoint ranges, so a page's checksum is the sum of its leaves' and only
// mismatching ranges are ever narrowed down.
//
// The from side leads: it is read in key order a page at a time and each
// page is cut into leaves of Options.Leaf rows. Per page, each side gives a
// checksum — computed here from streamed rows, or in the database when the
// store implements connector.Checksummer — and only differing pages are
// checked per leaf, and only differing leaves row by row. Rows found
// drifted are read again after Options.Recheck; those that changed in
// between are in flight and reported as moving, not drift.
//
// # When the database can checksum
//
// Mapping runs in Go, so a from side whose mapping has expressions or a
// filter must stream its rows through the hash here: its bytes read equal
// the table's. The in-database checksum is used for a from side only when
// every target column is a plain rename and there is no filter, and always
// for the to side when its store has one. SQLite has no hash function in
// SQL, so SQLite sides stream; a diff between two SQLite files reads both
// once (about what an export does) and is cheaper only in the comparison.
// The large saving — reading a few bytes per range instead of its rows —
// needs a store with a Checksummer on both sides, and then the leading
// side reads only its keys.
//
// # Repair
//
// FlowReport.Fixes are target changes: upserts of the mapped source row for
// missing and different rows, deletes by key for extra ones. Runner.Run
// applies them through engine.Correct — the flow's own sink, one
// transaction, its checkpoint unchanged. `direction: both` flows are not
// repaired (ErrBothWays): which side owns a drifted row is a conflict
// policy decision.
package reconcile
