// Package mysql is the driver for MySQL and MariaDB: `driver: mysql`, with
// `capture: binlog` or `capture: poll`, a transactional sink and a
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
// CheckCapture checks them without writing and names each fix.
//
// Only rows of the flow's table become changes; every commit (XID, or a
// COMMIT/DDL query event) is a transaction boundary and advances the
// position, so an idle table still reports progress. Batches carry a
// Position only when they end on a boundary; changes carry the position of
// the boundary before their transaction. Column names and types come from
// Describe, since binlog_row_metadata may be MINIMAL; after a DDL the table
// is described again, and a row event that does not match the table stops
// the stream with a clear error. An UPDATE that changes the primary key is
// one change whose Before and After keys differ. CommitTime has second
// precision (the event header's).
//
// Backfill consistency: Position is taken before the backfill; streaming
// from it replays everything committed during the backfill, and the
// idempotent apply makes the target converge.
//
// A stream whose position was purged from the server (or belongs to
// another history) fails with connector.ErrPositionLost: reset the flow's
// checkpoint to re-backfill, and keep binlogs longer. A broken connection
// ends the stream with an error; the engine reopens it from its last
// checkpoint. Ack does nothing: servers keep binlogs by age.
//
// Echo suppression: a sink with SinkSpec.SuppressCapture sets the session
// variable @syncbridge_applying = 1 on its connection. Binlog events do not
// carry session variables, so binlog capture cannot yet drop these writes;
// both-way flows rely on the base comparison (a change equal to the base is
// dropped) until the sink also writes a marker the capture can see.
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
// the table's database, created on first use) in the same transaction.
package mysql
