-- Both-way flows: the base (the last row both sides agreed on, per key, in
-- both models), the conflict log, and intents (a both-way transaction's redo
-- record, kept until its writes on both sides are durable).

-- +goose Up
CREATE TABLE bases (
    flow       text    NOT NULL,
    key        text    NOT NULL, -- change.Key.String() of the flow's key
    from_row   json,             -- change.Row in the from table's model; NULL when deleted
    to_row     json,             -- change.Row in the to table's model; NULL when deleted
    deleted    boolean NOT NULL DEFAULT false,
    deleted_at bigint,           -- set for tombstones; they expire after conflict.tombstone_ttl
    updated_at bigint  NOT NULL, -- when the sides agreed
    PRIMARY KEY (flow, key)
);
CREATE INDEX bases_tombstones ON bases (flow, deleted_at) WHERE deleted;

CREATE TABLE conflicts (
    seq         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flow        text    NOT NULL,
    key         text    NOT NULL, -- change.Key.String()
    key_values  json    NOT NULL, -- change.Key
    ours_side   text    NOT NULL, -- from | to: the side whose change met the conflict
    base        json,             -- rows in the to table's model; NULL = none or deleted
    ours        json,
    theirs      json,
    result      json,             -- the row both sides got (NULL: deleted, or parked)
    winner      text    NOT NULL, -- ours | theirs | merged | none
    policy      text    NOT NULL,
    reason      text    NOT NULL,
    status      text    NOT NULL, -- resolved | parked
    at          bigint  NOT NULL,
    resolved_at bigint
);
CREATE INDEX conflicts_flow ON conflicts (flow, status, key);

CREATE TABLE intents (
    name       text   PRIMARY KEY, -- the pipeline that wrote it
    flow       text   NOT NULL,
    data       json   NOT NULL,    -- the engine's redo record
    created_at bigint NOT NULL
);

-- +goose Down
DROP TABLE intents;
DROP TABLE conflicts;
DROP TABLE bases;
