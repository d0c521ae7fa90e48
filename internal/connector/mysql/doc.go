// Package mysql is the driver for MySQL and MariaDB: `driver: mysql`, with
// `capture: binlog`, `capture: trigger` or `capture: poll`, a transactional sink and a
// key-ordered scanner. SQL goes through go-sql-driver/mysql; the binlog is
// read with go-mysql's replication.BinlogSyncer. Tested against MariaDB
// 10.11; written for MySQL 8 as well (MySQL GTID sets, SHOW BINARY LOG
// STATUS on 8.4, the row alias of 8.0.20+ upserts), which cannot be tested
// on this project's machines.
//
// # Opening
//
// The DSN is a go-sql-driver/mysql DSN: user:password@tcp(host:3306)/db.
// Tables are "db.table", or "table" in the DSN's database. Open writes
// nothing. Every connection gets time_zone '+00:00' and a strict sql_mode
// (STRICT_ALL_TABLES, NO_ZERO_DATE, ...) unless the DSN sets them, so bad
// values fail instead of being truncated. parseTime, interpolateParams and
// multiStatements are forced off: temporal values are read as text and
// converted here (exact microseconds), and values are always bound. The
// DSN's loc (default UTC) is the zone DATETIME values are taken to be in;
// TIMESTAMP values are exchanged in UTC. See types.go for the type mapping.
//
// # Binlog capture
//
// The source registers as a replica (server id from ServerID(flow)) and
// reads the row-based binlog from a position: the GTID set when GTIDs are
// usable (always on MariaDB, gtid_mode=ON on MySQL), else binlog file and
// offset ("mysql-gtid:v1:<set>", "mysql-file:v1:<file>:<offset>", see
// position.go). It needs log_bin, binlog_format=ROW, binlog_row_image=FULL
// and the REPLICATION SLAVE and REPLICATION CLIENT privileges;
// CheckCapture checks them without writing and names each fix; it also
// logs a warning recommending binlog_row_metadata=FULL when it is not (see
// schema changes below).
//
// Only rows of the flow's table become changes; every commit (XID, or a
// COMMIT/DDL query event) is a transaction boundary and advances the
// position, so an idle table still reports progress. Batches carry a
// Position only when they end on a boundary; changes carry the position of
// the boundary before their transaction. An UPDATE that changes the
// primary key is one change whose Before and After keys differ. CommitTime
// has second precision (the event header's).
//
// Schema changes: column types come from Describe; after a DDL the table is
// described again before the next row is decoded, so a column added while
// the stream runs flows on (when the target has it; otherwise the sink
// refuses the change and it is dead-lettered naming the column). Events
// written before a column change but read after it (the flow was stopped
// across the DDL) decode by name when the binlog names columns
// (binlog_row_metadata=FULL): a column the event lacks is left out of the
// change, and so is a column dropped since (its type is gone: the target
// keeps its older value). Without names (the default MINIMAL) an event
// whose column count differs from the table's stops the flow with
// ErrPositionLost and the re-backfill fix. MINIMAL cannot detect a DDL that
// keeps the column count (one column added, another dropped) while changes
// from before it are unread: run with binlog_row_metadata=FULL, or stop
// DDL-affected flows only after they caught up.
//
// Backfill consistency: Position is taken before the backfill; streaming
// from it replays everything committed during the backfill, and the
// idempotent apply makes the target converge.
//
// A stream whose position was purged from the server (or belongs to
// another history) fails with connector.ErrPositionLost, naming the fix:
// `syncbridge reset --flow F --yes` then `syncbridge run` re-backfills the
// flow; keep binlogs longer. A broken connection
// ends the stream with an error; the engine reopens it from its last
// checkpoint. Ack does nothing: servers keep binlogs by age.
//
// Echo marking: a both-way flow must recognise its own writes when binlog
// capture reads them back. Session variables never reach the binlog, so a
// sink with SinkSpec.SuppressCapture writes a marker row instead: first in
// each transaction, right after START TRANSACTION, it runs
//
//	INSERT INTO _syncbridge_marker (flow, n) VALUES (?, 1) ON DUPLICATE KEY UPDATE n = n + 1
//
// (the table, flow VARCHAR(255) PRIMARY KEY and n BIGINT, lives in the sink
// table's database and is created before the transaction). Binlog capture,
// on a row event of a table named _syncbridge_marker in any database, sets
// Change.Origin = OriginName(flow) = "syncbridge_<flow>" on every change of
// that transaction; the sink's Origin() (connector.OriginMarker) returns the
// same name, and the engine drops captured changes carrying one of its own
// sinks' origins. Because the marker is written first, capture knows the
// origin before it decodes any row of the transaction; changes still
// buffered when a later marker arrives are marked too. The marker row costs
// one small row event per sink transaction. Poll capture cannot see
// markers: it reports no origin.
//
// # Trigger capture
//
// `capture: trigger` is for servers whose binlog cannot be read (managed
// services, no REPLICATION grants). Prepare creates, in the table's
// database, _syncbridge_log (id AUTO_INCREMENT, tbl, op, tx, origin,
// old_row, new_row, at), _syncbridge_cursor (each flow's acked id) and
// _syncbridge_writer, and AFTER INSERT, UPDATE and DELETE triggers whose
// names carry a hash of their body: running Prepare again (after ALTER
// TABLE) creates the new triggers before dropping the old, so no change
// is missed (one may be logged twice). Row images are JSON objects of each
// column's exact text (HEX for binary types, epoch seconds for TIMESTAMP so
// the writer's time_zone does not matter) and decode through the same
// code as SQL reads. Positions are "mysql-log:v1:<id>". Log ids are drawn
// at insert, not at commit; the stream reads only ids proven final, using
// _syncbridge_writer row locks as the list of open transactions (see
// trigger_horizon.go), so a transaction that commits after a later one is
// never skipped. Batches are cut only between transactions; two
// transactions of one connection that commit between two reads of the log
// count as one (never a wrong cut, sometimes a later one). Ack prunes the
// log up to the slowest flow of the table. A sink sets @syncbridge_origin
// on its connection (OriginName(flow) with SuppressCapture, else NULL); the
// triggers log it and the stream sets Change.Origin, which the engine
// drops as it does the binlog's marker origin. TRUNCATE fires no trigger
// and is not seen. Needs MariaDB 10.6+ or MySQL 8.0+ (SKIP LOCKED), the
// TRIGGER privilege, CREATE and DML on the database, and with the binary
// log on SUPER or log_bin_trust_function_creators=1; CheckCapture names
// each missing one with its GRANT or SET GLOBAL.
//
// # Poll capture
//
// `capture: poll` is the shared sqlpoll poller with MySQL's dialect:
// temporal poll columns stay Lag behind NOW(6) in the session time zone
// (UTC). Polling does not see deletes.
//
// # Sink
//
// Changes are applied in a transaction on one dedicated connection:
// upserts as multi-row INSERT ... ON DUPLICATE KEY UPDATE of the columns
// present (VALUES() on MariaDB, the row alias on MySQL 8.0.20+), guarded so
// a conflict on a secondary unique key fails instead of updating another
// row; deletes by key. A data error (duplicate, NULL, out of range, too
// long, foreign key, check constraint) is a permanent connector.ApplyError
// naming the change: InnoDB rolls back only the failed statement, whose rows
// are then replayed one by one to find it, and the transaction stays
// usable. The flow's checkpoint is upserted into _syncbridge_checkpoint (in
// the table's database, created on first use) in the same transaction;
// ResetCheckpoint deletes that row (`syncbridge reset`).
//
// Both-way flows read rows by key (rows.go): Store.ReadRows with a plain
// consistent read, and the sink transaction's Current with SELECT ... FOR
// UPDATE, which InnoDB keeps locked (absent keys' gaps included) until the
// transaction ends, so a decision and its write are one compare-and-set.
package mysql
