-- Reconciliation reports: one row per diff of one flow (by `diff` or the
-- scheduled reconciliation in `run`), with what it found and repaired.

-- +goose Up
CREATE TABLE reconcile_runs (
    id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flow        text    NOT NULL,
    started_at  bigint  NOT NULL,
    duration_us bigint  NOT NULL,
    in_sync     boolean NOT NULL,
    missing     integer NOT NULL,
    extra       integer NOT NULL,
    different   integer NOT NULL,
    moving      integer NOT NULL,
    repaired    integer NOT NULL,
    detail      json    NOT NULL -- the full report
);
CREATE INDEX reconcile_runs_flow ON reconcile_runs (flow, id);

-- +goose Down
DROP TABLE reconcile_runs;
