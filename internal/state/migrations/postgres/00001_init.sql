-- The PostgreSQL schema of the state store. Tables are created in the
-- store's schema through search_path. Times are unix microseconds, UTC, like
-- the SQLite store, so both share their SQL. Migrations are serialised by
-- goose's advisory-lock session locker. JSON columns are json, not jsonb:
-- jsonb rejects the \u0000 escape, and a change whose text holds a NUL byte
-- is exactly the kind of poison the dead-letter queue must accept.

-- +goose Up
CREATE TABLE checkpoints (
    flow       text   PRIMARY KEY,
    data       json   NOT NULL, -- connector.Checkpoint
    updated_at bigint NOT NULL
);

CREATE TABLE dlq (
    seq       bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flow      text    NOT NULL,
    change_id text    NOT NULL,
    key       text    NOT NULL, -- change.Key.String() of the source key
    change    json    NOT NULL, -- the full change.Change
    error     text    NOT NULL,
    waiting   boolean NOT NULL DEFAULT false,
    attempts  integer NOT NULL DEFAULT 0,
    parked_at bigint  NOT NULL,
    UNIQUE (flow, change_id)
);
CREATE INDEX dlq_flow_key ON dlq (flow, key);

CREATE TABLE flow_status (
    flow       text   PRIMARY KEY,
    data       json   NOT NULL, -- state.FlowStatus
    updated_at bigint NOT NULL
);

CREATE TABLE leases (
    name       text   PRIMARY KEY,
    holder     text   NOT NULL,
    expires_at bigint NOT NULL -- from the database's clock
);

-- +goose Down
DROP TABLE leases;
DROP TABLE flow_status;
DROP TABLE dlq;
DROP TABLE checkpoints;
