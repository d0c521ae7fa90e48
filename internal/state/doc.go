// Package state keeps syncbridge's own bookkeeping: checkpoint copies for
// status, the dead-letter queue, flow status and leases. It is never the only
// copy of user data: losing it means a re-backfill, not data loss (database
// sinks hold the authoritative checkpoint in their own transaction).
//
// Two implementations share one SQL code path and differ only in how they
// connect and migrate:
//
//   - SQLite (the default, zero setup): one file, opened in WAL mode with a
//     busy timeout so that a `run` process and a `status` or `dlq` command can
//     use it at the same time. Every explicit transaction begins IMMEDIATE so
//     that two writers queue on the busy timeout instead of failing with
//     SQLITE_BUSY when a read lock cannot be upgraded.
//   - PostgreSQL, for teams running several instances: the tables live in
//     their own schema (syncbridge_state), reached through search_path.
//
// The schema is versioned with goose migrations embedded in the binary and
// applied on open; opening an up-to-date store applies nothing. Values that
// belong to other packages (checkpoints, change envelopes, flow status) are
// stored as JSON, so the tables do not change when those types gain fields.
// Times are unix microseconds (UTC) in both databases. Lease expiry is
// computed from the database's clock rather than the caller's, so instances
// on different machines compare against one clock.
package state
