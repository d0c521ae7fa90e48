// Package sqlpoll implements `capture: poll` for every SQL driver: changes
// are found by reading rows whose poll column (an updated_at timestamp or an
// integer version) advanced past a cursor.
//
// The cursor is the stored values of (poll column, key columns) of the last
// row read, and each poll is a keyset read
//
//	WHERE (col, k1, k2) > (?, ?, ?) AND <lag bound> ORDER BY col, k1, k2 LIMIT n
//
// so rows sharing one poll value across a page boundary are neither skipped
// nor read twice. Cursor values are kept exactly as the store holds them
// (the driver's Dialect.CursorExpr reads them without conversion) and bound
// back unchanged, so the comparison is the store's own.
//
// An index on (poll column, key columns) makes each poll and Position a
// short range scan; without one every poll reads the table.
//
// The lag bound keeps polling Lag behind the store's clock for timestamp
// columns: a transaction that stamps a row and commits a little later is
// still seen, as long as it commits within Lag. Rows stamped in the future
// are also held back until their time, so they cannot push the cursor past
// rows written meanwhile. Integer versions have no clock and no bound: they
// must be assigned in commit order (a sequence bumped by the writer is not,
// when writers overlap; poll a timestamp with a lag instead).
//
// What polling cannot see, by design:
//   - deletes: a deleted row leaves nothing to read. Use a soft-delete column
//     mapped by the flow, or rely on reconciliation (syncbridge diff
//     --repair) to remove rows that disappeared;
//   - rows whose poll column is NULL;
//   - intermediate versions: two updates between polls arrive as one;
//   - a row committed more than Lag after the time it was stamped with.
//
// Every change is an OpUpdate (an upsert; the previous version is unknown)
// and every page ends on a boundary, so its Position is the cursor of its
// last row. Ack is a no-op: the cursor lives in the sink's checkpoint.
package sqlpoll
