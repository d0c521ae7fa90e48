package postgres

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// The objects trigger capture keeps in the captured table's schema.
const (
	logTable    = "_syncbridge_log"    // one row per captured row change
	cursorTable = "_syncbridge_cursor" // one row per consuming flow: how far it acked
)

// TriggerSource is `capture: trigger`: a row trigger on the table appends
// each change's full row images to _syncbridge_log in the table's schema
// (see doc.go). Its methods may be called from one goroutine at a time.
type TriggerSource struct {
	store  *Store
	spec   connector.SourceSpec
	tbl    *table
	key    []string
	snap   keysetQuery
	log    string // quoted, qualified log table
	cursor string // quoted, qualified cursor table
	seq    string // qualified name of the log's id sequence, for regclass
}

var (
	_ connector.Source        = (*TriggerSource)(nil)
	_ connector.Preparer      = (*TriggerSource)(nil)
	_ connector.ResumeChecker = (*TriggerSource)(nil)
	_ connector.CopySource    = (*TriggerSource)(nil)
)

func newTriggerSource(s *Store, spec connector.SourceSpec, tbl *table) (*TriggerSource, error) {
	key := spec.Key
	if len(key) == 0 {
		key = tbl.key
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("store %q: table %s has no primary key and the flow names no key: add a primary key or set `key:` on the flow",
			s.name, tbl.qualified())
	}
	for _, k := range key {
		if _, ok := tbl.column(k); !ok {
			return nil, fmt.Errorf("store %q: table %s has no key column %q", s.name, tbl.qualified(), k)
		}
	}
	src := &TriggerSource{store: s, spec: spec, tbl: tbl, key: key,
		log:    pgx.Identifier{tbl.schema, logTable}.Sanitize(),
		cursor: pgx.Identifier{tbl.schema, cursorTable}.Sanitize(),
		seq:    pgx.Identifier{tbl.schema, logTable + "_id_seq"}.Sanitize(),
	}
	var cols []string
	if len(spec.Columns) > 0 {
		cols = append([]string(nil), key...)
		for _, c := range spec.Columns {
			if !contains(cols, c) {
				cols = append(cols, c)
			}
		}
	}
	src.snap = keysetQuery{table: tbl.ident(), key: key, cols: cols}
	return src, nil
}

// function is the capture trigger function of the table (the triggers
// themselves are named alike on every table).
func (src *TriggerSource) function() string {
	return pgx.Identifier{src.tbl.schema, ObjectName("capture_" + src.tbl.name)}.Sanitize()
}

// Prepare installs, in one transaction, the log and cursor tables (when
// missing), the table's capture function (replaced, so it follows the
// table's columns: run it again after ALTER TABLE) and its triggers, and
// the flow's cursor row at the start of the log.
func (src *TriggerSource) Prepare(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, src.store.pool, func(tx pgx.Tx) error {
		// Serialise concurrent Prepares of one schema.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "syncbridge capture "+src.tbl.schema); err != nil {
			return err
		}
		for _, q := range src.ddl() {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", strings.SplitN(q, "(", 2)[0], err)
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO "+src.cursor+" (flow, tbl, acked) VALUES ($1, $2, 0) ON CONFLICT (flow) DO UPDATE SET tbl = EXCLUDED.tbl",
			src.spec.Flow, src.tbl.qualified())
		return err
	})
	if err != nil {
		return src.store.wrapErr(fmt.Errorf("store %q: prepare trigger capture of %s: %w", src.store.name, src.tbl.qualified(), err))
	}
	return nil
}

// ddl is the SQL Prepare runs. The function pins the settings that shape
// the text of values (as the driver's sessions do), so every image holds
// each column's exact text whatever the writing session's settings.
func (src *TriggerSource) ddl() []string {
	fn, tbl := src.function(), src.tbl.ident()
	trig := pgx.Identifier{"_syncbridge_capture"}.Sanitize()
	trigTrunc := pgx.Identifier{"_syncbridge_capture_truncate"}.Sanitize()
	name := quoteLiteral(src.tbl.qualified())
	return []string{
		"CREATE TABLE IF NOT EXISTS " + src.log + ` (
	id bigserial PRIMARY KEY,
	tbl text NOT NULL,
	op text NOT NULL,
	txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	before jsonb,
	after jsonb,
	at timestamptz NOT NULL DEFAULT clock_timestamp())`,
		"CREATE INDEX IF NOT EXISTS " + pgx.Identifier{logTable + "_tbl_id"}.Sanitize() + " ON " + src.log + " (tbl, id)",
		"CREATE INDEX IF NOT EXISTS " + pgx.Identifier{logTable + "_txid"}.Sanitize() + " ON " + src.log + " (txid)",
		"CREATE TABLE IF NOT EXISTS " + src.cursor + " (flow text PRIMARY KEY, tbl text NOT NULL, acked bigint NOT NULL, pruned bigint NOT NULL DEFAULT 0)",
		"CREATE OR REPLACE FUNCTION " + fn + `() RETURNS trigger LANGUAGE plpgsql
SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres' SET TimeZone = 'UTC'
SET bytea_output = 'hex' SET extra_float_digits = 3 AS $fn$
BEGIN
	IF current_setting('syncbridge.applying', true) = 'on' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'TRUNCATE' THEN
		INSERT INTO ` + src.log + ` (tbl, op) VALUES (` + name + `, 'truncate');
	ELSIF TG_OP = 'INSERT' THEN
		INSERT INTO ` + src.log + ` (tbl, op, after) VALUES (` + name + `, 'insert', ` + src.imageSQL("NEW") + `);
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO ` + src.log + ` (tbl, op, before, after) VALUES (` + name + `, 'update', ` + src.imageSQL("OLD") + `, ` + src.imageSQL("NEW") + `);
	ELSE
		INSERT INTO ` + src.log + ` (tbl, op, before) VALUES (` + name + `, 'delete', ` + src.imageSQL("OLD") + `);
	END IF;
	RETURN NULL;
END
$fn$`,
		"DROP TRIGGER IF EXISTS " + trig + " ON " + tbl,
		"CREATE TRIGGER " + trig + " AFTER INSERT OR UPDATE OR DELETE ON " + tbl + " FOR EACH ROW EXECUTE FUNCTION " + fn + "()",
		"DROP TRIGGER IF EXISTS " + trigTrunc + " ON " + tbl,
		"CREATE TRIGGER " + trigTrunc + " AFTER TRUNCATE ON " + tbl + " FOR EACH STATEMENT EXECUTE FUNCTION " + fn + "()",
	}
}

// imageSQL is the JSON object of a row's column texts (null for NULL):
// jsonb_build_object('c1', <text of rec."c1">, ...), in pieces of 50 columns
// (a function takes at most 100 arguments) joined with ||.
func (src *TriggerSource) imageSQL(rec string) string {
	var parts []string
	var args []string
	for i, c := range src.tbl.cols {
		// format('%s', x) prints x with its type's output function, as a
		// query result would (x::text may not: boolean gives "true").
		v := rec + "." + pgx.Identifier{c.name}.Sanitize()
		args = append(args, quoteLiteral(c.name), "CASE WHEN "+v+" IS NULL THEN NULL ELSE format('%s', "+v+") END")
		if len(args) == 100 || i == len(src.tbl.cols)-1 {
			parts = append(parts, "jsonb_build_object("+strings.Join(args, ", ")+")")
			args = args[:0]
		}
	}
	if len(parts) == 0 {
		return "'{}'::jsonb"
	}
	return strings.Join(parts, " || ")
}

// quoteLiteral quotes s as an SQL string literal (for names from the
// catalog in generated DDL; values are always bound parameters).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Position returns a log position every change committed after the call
// is after: the last id handed out, once the transactions that might hold
// ids up to it have ended (see waitHorizon).
func (src *TriggerSource) Position(ctx context.Context) (change.Position, error) {
	h, err := src.waitHorizon(ctx)
	if err != nil {
		return nil, src.store.wrapErr(fmt.Errorf("store %q: read log position of %s: %w", src.store.name, src.tbl.qualified(), err))
	}
	return logPosition(h).Bytes(), nil
}

// Compare orders two log positions.
func (src *TriggerSource) Compare(a, b change.Position) (int, error) {
	pa, pb, err := connector.ParseBoth(parseLogPosition, a, b)
	if err != nil {
		return 0, err
	}
	return cmp.Compare(pa, pb), nil
}

// Snapshot reads up to limit rows after the key after, in key order.
func (src *TriggerSource) Snapshot(ctx context.Context, after change.Key, limit int) ([]change.Change, error) {
	return snapshot(ctx, src.store, src.spec.Flow, src.spec.Table, src.snap, after, limit)
}

// CopyFormat is "postgres-text".
func (src *TriggerSource) CopyFormat() string { return copyFormat }

// CopyChunk writes a backfill chunk as COPY text. See connector.CopySource.
func (src *TriggerSource) CopyChunk(ctx context.Context, after change.Key, limit int, w io.Writer) (change.Key, int, error) {
	return copyChunk(ctx, src.store, src.tbl, src.key, after, limit, w)
}

// CheckResume reports a log pruned past from (by another flow's acks after
// this flow's cursor was removed) as connector.ErrPositionLost.
func (src *TriggerSource) CheckResume(ctx context.Context, from change.Position) error {
	p, err := parseLogPosition(from)
	if err != nil {
		return err
	}
	var pruned int64
	err = src.store.pool.QueryRow(ctx, "SELECT coalesce(max(pruned), 0) FROM "+src.cursor+" WHERE tbl = $1", src.tbl.qualified()).Scan(&pruned)
	if pe, ok := errorsAsPg(err); ok && pe.Code == "42P01" {
		return fmt.Errorf("store %q: the capture log of %s does not exist, so changes since %s are lost: re-backfill the flow with `syncbridge reset --flow %s`: %w",
			src.store.name, src.tbl.qualified(), from, src.spec.Flow, connector.ErrPositionLost)
	}
	if err != nil {
		return src.store.wrapErr(fmt.Errorf("store %q: read capture cursor of %s: %w", src.store.name, src.tbl.qualified(), err))
	}
	if int64(p) < pruned {
		return fmt.Errorf("store %q: the capture log of %s was pruned up to id %d, past %s: re-backfill the flow with `syncbridge reset --flow %s`: %w",
			src.store.name, src.tbl.qualified(), pruned, from, src.spec.Flow, connector.ErrPositionLost)
	}
	return nil
}
