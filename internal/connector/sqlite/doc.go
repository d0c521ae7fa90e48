// Package sqlite is the driver for SQLite database files: `driver: sqlite`,
// with `capture: trigger` or `capture: poll`, a transactional sink and a
// key-ordered scanner. It uses modernc.org/sqlite (pure Go, no cgo).
//
// # Opening
//
// The DSN is a file path or a "file:" URI with query parameters. Open writes
// nothing and creates nothing (validate opens stores): a missing file is an
// error. Every connection waits up to 10s for the write lock (busy_timeout).
// The first Prepare or sink transaction switches the file to WAL mode, so
// capture and reconciliation reads never block writers.
//
// # Trigger capture
//
// Prepare installs, in one transaction and idempotently, a change log and
// three AFTER triggers per captured table (_syncbridge_<table>_ins, _upd,
// _del) that append the full row image as JSON to _syncbridge_log. Blobs are
// written as ["x", HEX]; numbers stay JSON numbers and are decoded exactly.
// The trigger SQL depends on the column list; its hash is kept in
// _syncbridge_meta, and Prepare replaces the triggers when the table changed
// (run it after ALTER TABLE ... ADD COLUMN; a DROP COLUMN must drop the
// triggers first, as SQLite refuses to drop a column a trigger uses).
//
// Each consuming flow has a row in _syncbridge_cursor. Ack advances it and
// deletes the table's log rows every consumer has acked; the highest pruned
// id is remembered, so a stream asked to resume before it fails with
// connector.ErrPositionLost instead of skipping changes. A flow removed from
// the config must have its cursor row deleted, or the log is kept for it.
//
// Positions are log ids ("sqlite-log:v1:<id>"). SQLite has one writer at a
// time and issues ids under its lock, so ids grow in commit order and the
// end of the log as one read sees it is a transaction boundary. A stream
// fixes that end at the start of a run of reads and reports a Position only
// on the page that reaches it.
//
// Echo suppression: a sink with SinkSpec.SuppressCapture puts a row in
// _syncbridge_session at the start of its transaction and removes it before
// commit. The triggers log nothing while that table has a row. No other
// connection can see the row, and none can write while the sink holds the
// write lock, so only the sink's own writes are skipped.
//
// # Poll capture
//
// `capture: poll` is the shared sqlpoll poller with SQLite's dialect. A
// timestamp poll column is compared with julianday() against the store's
// clock, so it must hold text SQLite's date functions read (what
// CURRENT_TIMESTAMP or strftime write). Polling does not see deletes.
//
// # Types
//
// See types.go for how declared column types map to value kinds, and how
// values convert in both directions.
//
// # Sink
//
// Changes are applied in a BEGIN IMMEDIATE transaction on one dedicated
// connection: upserts as INSERT ... ON CONFLICT (key) DO UPDATE of the
// columns present, deletes by key. Consecutive upserts writing the same
// columns are sent as multi-row statements. A change that violates a
// constraint or cannot be converted is reported as a permanent
// connector.ApplyError; SQLite aborts only the failing statement, so the
// transaction stays usable. The flow's checkpoint is written to
// _syncbridge_checkpoint in the same transaction.
package sqlite
