-- Both-way flows: the base (the last row both sides agreed on, per key, in
-- both models), the conflict log, and intents (a both-way transaction's redo
-- record, kept until its writes on both sides are durable).

-- +goose Up
CREATE TABLE bases (
    flow       TEXT    NOT NULL,
    key        TEXT    NOT NULL, -- change.Key.String() of the flow's key
    from_row   TEXT,             -- JSON of change.Row in the from table's model; NULL when deleted
    to_row     TEXT,             -- JSON of change.Row in the to table's model; NULL when deleted
    deleted    INTEGER NOT NULL DEFAULT 0,
    deleted_at INTEGER,          -- set for tombstones; they expire after conflict.tombstone_ttl
    updated_at INTEGER NOT NULL, -- when the sides agreed
    PRIMARY KEY (flow, key)
) STRICT;
CREATE INDEX bases_tombstones ON bases (flow, deleted_at) WHERE deleted = 1;

-- AUTOINCREMENT: `conflicts resolve` names entries by seq, never reused.
CREATE TABLE conflicts (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    flow        TEXT    NOT NULL,
    key         TEXT    NOT NULL, -- change.Key.String()
    key_values  TEXT    NOT NULL, -- JSON of change.Key
    ours_side   TEXT    NOT NULL, -- from | to: the side whose change met the conflict
    base        TEXT,             -- JSON rows in the to table's model; NULL = none or deleted
    ours        TEXT,
    theirs      TEXT,
    result      TEXT,             -- the row both sides got (NULL: deleted, or parked)
    winner      TEXT    NOT NULL, -- ours | theirs | merged | none
    policy      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    status      TEXT    NOT NULL, -- resolved | parked
    at          INTEGER NOT NULL,
    resolved_at INTEGER
) STRICT;
CREATE INDEX conflicts_flow ON conflicts (flow, status, key);

CREATE TABLE intents (
    name       TEXT    PRIMARY KEY, -- the pipeline that wrote it
    flow       TEXT    NOT NULL,
    data       TEXT    NOT NULL,    -- the engine's redo record (JSON)
    created_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE intents;
DROP TABLE conflicts;
DROP TABLE bases;
