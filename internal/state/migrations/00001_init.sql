-- The SQLite schema of the state store. JSON columns hold the Go types of
-- other packages so new fields need no migration. Times are unix
-- microseconds, UTC. Tables are STRICT so a wrongly typed bind fails loudly.

-- +goose Up
CREATE TABLE checkpoints (
    flow       TEXT    PRIMARY KEY,
    data       TEXT    NOT NULL, -- JSON of connector.Checkpoint
    updated_at INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT so that a seq is never reused after Unpark: `dlq replay`
-- and `dlq drop` name entries by seq and must not hit a newer one.
CREATE TABLE dlq (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    flow      TEXT    NOT NULL,
    change_id TEXT    NOT NULL,
    key       TEXT    NOT NULL, -- change.Key.String() of the source key
    change    TEXT    NOT NULL, -- JSON of the full change.Change
    error     TEXT    NOT NULL,
    waiting   INTEGER NOT NULL DEFAULT 0,
    attempts  INTEGER NOT NULL DEFAULT 0,
    parked_at INTEGER NOT NULL,
    UNIQUE (flow, change_id)
) STRICT;
CREATE INDEX dlq_flow_key ON dlq (flow, key);

CREATE TABLE flow_status (
    flow       TEXT    PRIMARY KEY,
    data       TEXT    NOT NULL, -- JSON of state.FlowStatus
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL -- from the database's clock
) STRICT;

-- Two processes opening a new or outdated file may both decide to apply the
-- same migration. goose records a version in the migration's own
-- transaction, so this index makes the second attempt fail and roll back
-- instead of running the migration twice (see migrate in migrate.go).
CREATE UNIQUE INDEX goose_db_version_once ON goose_db_version (version_id);

-- +goose Down
DROP INDEX goose_db_version_once;
DROP TABLE leases;
DROP TABLE flow_status;
DROP TABLE dlq;
DROP TABLE checkpoints;
