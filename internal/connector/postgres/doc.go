// Package postgres is the PostgreSQL driver (`driver: postgres`), built on
// pgx v5 (a pgxpool for queries, a pgconn replication connection for
// capture) and pglogrepl. It supports PostgreSQL 13 and newer.
//
// # Values
//
// Every value crosses the driver in PostgreSQL's own text form: pgoutput
// sends text, snapshots and scans ask for text results, and the sink binds
// text parameters of unspecified type (or COPY text) that the server parses
// with the column's input function. One decoder (types.go) therefore serves
// backfill, capture and polling, and the text never passes through a lossy Go
// type: numeric of any precision is an exact decimal, timestamps keep their
// microseconds (timestamp without time zone is carried as UTC), NULL and the
// empty string stay apart. Every connection pins DateStyle ISO, TimeZone UTC,
// IntervalStyle postgres, bytea_output hex and extra_float_digits 3 so that
// the text is the same whatever the server's defaults. Mapping:
//
//	boolean                         bool
//	smallint integer bigint oid     int
//	numeric                         decimal (NaN, ±Infinity: unknown "numeric")
//	real double precision           float
//	text varchar char name enums    text
//	interval                        text (as PostgreSQL prints it)
//	bytea                           bytes
//	timestamptz timestamp           timestamp (±infinity, BC, year > 9999: unknown)
//	date                            date (same exceptions)
//	time timetz                     time (text)
//	json jsonb                      json (text)
//	uuid                            uuid
//	arrays (any dimension)          array of the element's kind
//	domains                         their base type's kind
//	anything else (inet, ranges...) unknown, with the type's name
//
// An "unknown" value is its text: written back to PostgreSQL it round-trips.
//
// # Logical capture (`capture: logical`)
//
// Each flow owns a replication slot (pgoutput) and a publication for its
// one table, both named ObjectName(flow): "syncbridge_" + the flow name
// lower-cased with other characters replaced by '_', plus a hash suffix when
// that changed the name or it would exceed 63 bytes. Prepare creates the
// publication (WITH publish_via_partition_root) and then the slot, so the
// slot never decodes a change before its publication exists; it re-points
// an existing publication at the flow's table. CheckCapture verifies without
// writing: wal_level, the REPLICATION attribute, free slots and WAL senders,
// the table's replica identity, SELECT on the table and the right to create
// the publication, each problem with the statement that fixes it.
//
// A Position is a commit LSN, "pg-lsn:v1:0/16B3748" (position.go, golden
// file in testdata): every transaction committed at or before it has been
// delivered. Stream(from) starts the slot at from and skips transactions
// whose commit LSN is at or before it, so from may be any LSN at or after
// the slot's confirmed position. Position() is pg_current_wal_lsn() read
// after the slot exists; it then waits (up to a second) for the transactions
// in progress at that moment to end, because a transaction whose commit
// record precedes the LSN can stay invisible to queries while it waits for
// its WAL flush or synchronous standbys, and a backfill snapshot must see
// every transaction the stream will skip.
//
// The stream's reader goroutine decodes pgoutput (protocol 1) into chunks of
// changes and hands them to Next through a small bounded channel: memory is
// bounded by a few thousand changes whatever the transaction size. Next
// returns at most max changes; only a batch ending at a COMMIT carries a
// Position, so a huge transaction arrives as many batches, all but the last
// without one. Changes have ID "<store>:<commit LSN>:<index in tx>", TxID the
// xid, CommitTime from BEGIN, Origin the replication origin that wrote the
// transaction (see SuppressCapture below). An UPDATE that changes the
// primary key carries the old key in Before (the replica identity's 'K'
// tuple: key columns only); under REPLICA IDENTITY FULL Before is the whole
// old row. TOAST values an UPDATE left unchanged are not sent by the server:
// such columns are absent from After and Columns, and the sink does not
// touch them (REPLICA IDENTITY FULL does not change this; the engine can
// fill them from its base). TRUNCATE of the flow's table is emitted as
// an OpTruncate change (and counted by Truncates); the sink applies it as a
// DELETE of every row inside its transaction.
//
// The server hears only what is durably applied: standby status updates
// report the position last acknowledged with Ack (promptly after Ack, every
// 10 s, and whenever the server asks). Once every transaction handed out is
// acknowledged and none is in progress, the reader reports the WAL end of
// the last keepalive instead, so an idle flow on a busy server does not hold
// WAL back: every commit before that end belonged to other tables. A batch
// is caught up only when the stream has reached the server's WAL position
// as read (pg_current_wal_lsn) when it last ran dry: a server decoding a
// large transaction sends nothing for a while, which is not the same as
// having nothing. A stream that runs dry reads that position, asks for a
// keepalive and returns an empty, caught-up batch as soon as the
// keepalive's WAL end reaches it (so a --once run has no idle tail), else
// after a second; the batch is positioned at the keepalive's end minus one
// (a commit may start exactly at it). A
// server that is shutting down waits until its clients confirm the end of
// WAL; when the stream cannot (changes delivered but not yet applied) it
// closes itself after a burst of such requests, so the shutdown proceeds and
// the flow resumes from its checkpoint afterwards.
//
// A slot that disappears (dropped by someone, or invalidated for exceeding
// max_slot_wal_keep_size) cannot be resumed from: Stream returns an error
// wrapping connector.ErrPositionLost that says to re-backfill the flow.
// Nothing recreates it silently. An abandoned slot keeps WAL forever:
// DropCapture removes the slot and publication of a removed flow, SlotLag
// reports how much WAL a slot retains.
//
// # Backfill
//
// Snapshot reads key-ordered chunks with a keyset SELECT (snapshot.go).
// For a flow whose target is PostgreSQL too, whose mapping is the identity
// and whose target columns have the source's declared types, the engine
// backfills in bulk instead (bulk.go, connector.CopySource and CopyTx): the
// same keyset SELECT with text results is written out as COPY text without
// decoding a value (COPY itself cannot take the key as a bind parameter),
// and the sink COPYs it straight into the table under a savepoint. When a
// key is already there the savepoint is rolled back and the chunk, and every
// later one, goes through the staging table and INSERT ... ON CONFLICT.
//
// # Trigger capture (`capture: trigger`)
//
// For servers without logical replication (wal_level, no REPLICATION
// role). Prepare installs, in one transaction, _syncbridge_log (id
// bigserial, tbl, op, txid xid8, before and after jsonb, at) and
// _syncbridge_cursor (one row per flow: acked, pruned) in the table's
// schema, and a capture function with row and TRUNCATE triggers on the
// table (replaced each time, so run it again after ALTER TABLE). Row images
// are JSON objects of each column's text as its output function prints it
// under the settings the driver pins (the function sets them), or null: the
// same text logical capture decodes, so types stay exact. The function logs
// nothing while syncbridge.applying is on (a sink with SuppressCapture).
//
// A Position is a log id, "pg-log:v1:<id>" (testdata/log_positions.golden).
// Ids are drawn when a row is logged, not at commit, so a transaction still
// open can hold ids below visible ones. The stream reads the id sequence
// and then the snapshot; ids up to that value are final once every
// transaction the snapshot lists as running has ended, and the stream never
// reads past the greatest such value (logstream.go). Rows are handed out in
// id order; a batch gets a Position only where every transaction of the
// rows handed out has no later row (their greatest id, per txid, is behind),
// so transactions that interleave in the log are never split. Ack moves the
// flow's cursor and deletes the rows every flow of the table has acked; a
// resume from before the pruned mark is connector.ErrPositionLost.
//
// # Poll capture (`capture: poll`)
//
// The shared sqlpoll package polls an updated_at (or version) column; this
// package gives it PostgreSQL's dialect (poll.go): $n placeholders, quoting,
// the lag bound `col <= now() - interval '...'` and exact value decoding.
//
// # Sink
//
// A Tx is a pgx transaction on a connection of its own. Apply plans the
// changes into segments that keep per-key order (a key both upserted and
// deleted starts a new segment; repeated upserts of a key merge, later
// values winning and the columns the union), then writes each run set-based:
//
//   - unnest: INSERT ... SELECT * FROM unnest($1::type[], ...) ON CONFLICT
//     (key) DO UPDATE, one array parameter per column;
//   - COPY into a temp staging table, then INSERT ... SELECT ... ON CONFLICT
//     or DELETE ... USING;
//   - multi-row INSERT ... VALUES ... ON CONFLICT and DELETE ... WHERE (key)
//     IN (...), for runs writing array columns.
//
// StrategyAuto uses COPY from 4096 rows and unnest below, which measured
// fastest (BenchmarkSinkApply). Only the columns present in a change's After
// are written; generated columns never are, identity columns GENERATED
// ALWAYS are inserted with OVERRIDING SYSTEM VALUE and never updated.
//
// Each Apply runs under a savepoint. When a statement fails the savepoint is
// rolled back and the changes are applied one by one, each under a
// savepoint of its own, to find the failing one: the changes before it stay
// applied and Apply returns a *connector.ApplyError naming it, Permanent for
// SQLSTATE classes 22 (data exception) and 23 (integrity constraint); the
// transaction stays usable. Commit upserts the flow's checkpoint into
// syncbridge_checkpoint(flow, data jsonb, updated_at) in the target table's
// schema (created when missing) and commits, so the checkpoint is durable
// exactly with the changes it covers.
//
// With SinkSpec.SuppressCapture the sink marks its transactions with the
// replication origin OriginName(flow) (created when missing; needs superuser
// or EXECUTE on the pg_replication_origin_* functions) and sets the GUC
// syncbridge.applying = on for capture triggers; logical capture reports the
// origin in Change.Origin, so a both-way flow can drop its own echo. Such a
// sink's transactions run at REPEATABLE READ: the rows a both-way decision
// read (Current) stay as read, absent ones included, or the write fails with
// a serialization failure (40001), which fails the transaction (it is
// retried as a whole) rather than one change.
//
// # Reconciliation
//
// Store implements connector.Segmenter (checksum.go), so a diff between two
// PostgreSQL stores reads a few bytes per key range: the count and checksum
// of a range, or of many consecutive ranges, come from one query whose row
// text is reconcile.RowText written in SQL (rowtext.go: one expression per
// column type and target kind, mirroring Normalize over what the decoder
// produces; pairings Normalize resolves by parsing text in Go return
// errors.ErrUnsupported and the diff streams). Ranges are cut by value for
// an integer key and at every n-th key otherwise. The queries run read-only
// with JIT off, which would compile the bucket search for longer than the
// scan takes.
//
// # Secrets
//
// Errors never carry the DSN's password: pgx's own redaction is best effort
// (a URL that fails to parse is quoted whole), so every error the driver
// returns is scrubbed of the DSN's secrets (redact.go). Nothing is logged
// per change.
package postgres
