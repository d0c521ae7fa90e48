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
// disjoint ranges, so only mismatching ranges are ever narrowed down.
//
// # Bisection inside the databases
//
// When both stores implement connector.Segmenter (PostgreSQL), no key is
// read page by page: each side checksums its whole table in one query; a
// differing range is cut into up to 1024 parts at keys one store picks by row
// number (SplitKeys), both checksum every part in one query
// (ChecksumSegments), and the parts that differ are cut again, down to
// ranges of at most 32 rows, which are read and compared row by row. A flow
// in sync costs one query per side; 100 drifted rows in a million cost a
// few hundred small queries and some thousand rows read (docs/benchmarks.md).
//
// Ranges are bounded by one store's keys and applied to the other, which
// assumes both order keys alike. When they do not (text keys under a C and
// a linguistic collation), the parts compared do not add up to the whole
// table; if the tables did not change meanwhile, the diff says so in
// FlowReport.Notes and compares by streaming both tables in their own
// order, pairing rows by key (join).
//
// # Pages, when only one side can checksum
//
// Otherwise the from side leads: it is read in key order a page at a time
// and each page is cut into leaves of Options.Leaf rows. Per page, each side
// gives a checksum — computed here from streamed rows, or in the database
// when the store implements connector.Checksummer — and only differing pages
// are checked per leaf, and only differing leaves row by row. Rows found
// drifted are read again after Options.Recheck; those that changed in
// between are in flight and reported as moving, not drift.
//
// Mapping runs in Go, so a from side whose mapping has expressions or a
// filter must stream its rows through the hash here: its bytes read equal
// the table's. The in-database checksum is used for a from side only when
// every target column is a plain rename and there is no filter, and always
// for the to side when its store has one. SQLite has no hash function in
// SQL, so SQLite sides stream; a diff between two SQLite files reads both
// once (about what an export does) and is cheaper only in the comparison.
//
// # Row text
//
// RowText is the contract a Checksummer reproduces in SQL, byte for byte.
// Its float and JSON forms are PostgreSQL's own (float8 output, jsonb
// output), so that PostgreSQL computes them with a cast and Go with a few
// lines; TestPostgresChecksumMatchesRowHash proves the equality for every
// PostgreSQL column type and target kind, edge values included.
//
// Bytes read (SideStats.Bytes) count every result a store returns the same
// way — text values by length, fixed-size values as 8 bytes, a checksum as
// 16 — so they compare with a full export counted alike.
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
