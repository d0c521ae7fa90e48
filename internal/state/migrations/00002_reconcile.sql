-- Reconciliation reports: one row per diff of one flow (by `diff` or the
-- scheduled reconciliation in `run`), with what it found and repaired.

-- +goose Up
CREATE TABLE reconcile_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    flow        TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    in_sync     INTEGER NOT NULL,
    missing     INTEGER NOT NULL,
    extra       INTEGER NOT NULL,
    different   INTEGER NOT NULL,
    moving      INTEGER NOT NULL,
    repaired    INTEGER NOT NULL,
    detail      TEXT    NOT NULL -- JSON of the full report
) STRICT;
CREATE INDEX reconcile_runs_flow ON reconcile_runs (flow, id);

-- +goose Down
DROP TABLE reconcile_runs;
