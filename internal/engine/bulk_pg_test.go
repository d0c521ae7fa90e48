package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// bulkTable has a column of every common type; bulkRows fills it with the
// values that trip up text formats.
const bulkTable = `CREATE TABLE t (
	id bigint PRIMARY KEY, s text, c char(3), n numeric(30,10), nn numeric, f double precision, r real,
	ts timestamptz, tl timestamp, d date, tm time, iv interval, b bytea, ai int[], at text[],
	j jsonb, u uuid, ok boolean)`

var bulkRows = []string{
	`INSERT INTO t (id, s) VALUES (1, NULL), (2, ''), (3, 'NULL'), (4, '\N')`,
	`INSERT INTO t (id, s, c) VALUES (5, E'tab\there\nnewline\r\\backslash "quote"', 'ab'),
		(6, 'héllo wörld ✓ 日本語 🎉', 'é')`,
	`INSERT INTO t (id, n, nn, f, r) VALUES (7, 12345678901234567890.0123456789, 0.000000000000000000001, 0.1, 0.1),
		(8, -0.5, 'NaN', 'Infinity', '-Infinity'), (9, 0, 1e-30, 1.7976931348623157e308, 3.4e38)`,
	`INSERT INTO t (id, ts, tl, d, tm, iv) VALUES
		(10, '2024-02-29 23:59:59.999999+05:30', '1999-12-31 23:59:59.000001', '0001-01-01', '00:00:00.000001', '1 year 2 mons -3 days 04:05:06.789'),
		(11, 'infinity', '-infinity', '4713-01-01 BC', '24:00:00', '-178000000 years')`,
	`INSERT INTO t (id, b, ai, at) VALUES (12, '\x00ff5c0a09', '{1,NULL,-3}', '{"a,b","{}","NULL",NULL,"q\"uote","back\\slash",""}'),
		(13, '', '{}', '{{a,b},{c,d}}')`,
	`INSERT INTO t (id, j, u, ok) VALUES (14, '{"a": [1, 2.50, "x\ny"], "b": null, "ü": "✓"}', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', true),
		(15, 'null', NULL, false)`,
	`INSERT INTO t (id, s, n, ts, b) SELECT g, 'row ' || g, g / 7.0, '2024-01-01'::timestamptz + g * interval '1 second', int8send(g)
		FROM generate_series(100, 60099) g`,
}

// bulkEnv is a PostgreSQL source and target database with the bulk table.
type bulkEnv struct {
	src, dst string
	log      bytes.Buffer
}

func newBulkEnv(t *testing.T, targetTable string) *bulkEnv {
	t.Helper()
	pg := testenv.Postgres(t)
	e := &bulkEnv{src: pg.NewDatabase(t), dst: pg.NewDatabase(t)}
	src, dst := openPGDB(t, e.src), openPGDB(t, e.dst)
	mustExec(t, src, bulkTable)
	for _, q := range bulkRows {
		mustExec(t, src, q)
	}
	mustExec(t, dst, targetTable)
	return e
}

// run backfills (and streams) one flow with --once and returns what it logged.
func (e *bulkEnv) run(t *testing.T, flow string) string {
	t.Helper()
	dir := t.TempDir()
	plan, st := planFor(t, dir, fmt.Sprintf(`
state: ./state.db
stores:
  src: {driver: postgres, dsn: "%s", capture: logical}
  dst: {driver: postgres, dsn: "%s"}
flows:
  - {name: t, from: {store: src, table: t}, to: {store: dst, table: t}, batch: {size: 1000}%s}
`, e.src, e.dst, flow))
	e.log.Reset()
	eng := engine.New(plan, st, observe.NewMetrics(), slog.New(slog.NewTextHandler(&e.log, nil)))
	if err := eng.Run(context.Background(), engine.RunOptions{Once: true}); err != nil {
		t.Fatal(err)
	}
	return e.log.String()
}

// table returns the table's rows as PostgreSQL prints them, in key order.
func tableText(t *testing.T, dsn, cols string) []string {
	t.Helper()
	return queryStrings(t, openPGDB(t, dsn), "SELECT ("+cols+")::text FROM t ORDER BY id")
}

func sameRows(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("target has %d rows, source %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d differs:\n target %s\n source %s", i, got[i], want[i])
		}
	}
}

// TestBackfillBulkCopiesExactly checks that a PostgreSQL to PostgreSQL
// backfill of an identity flow goes by bulk copy, over several chunks, and
// that the target ends identical, value for value, for every common type:
// NULL vs the empty string, COPY's special characters, numerics beyond float, NaN and
// infinities, timestamps to the microsecond and out of Go's range, bytea,
// arrays, JSON, unicode.
func TestBackfillBulkCopiesExactly(t *testing.T) {
	e := newBulkEnv(t, bulkTable)
	// A row the target already has with other values: the bulk copy meets
	// the key and must upsert rather than fail or keep the old row.
	mustExec(t, openPGDB(t, e.dst), `INSERT INTO t (id, s) VALUES (50000, 'stale')`)
	out := e.run(t, "")
	if !strings.Contains(out, "backfill by bulk copy") {
		t.Fatalf("the bulk path was not taken; log:\n%s", out)
	}
	if strings.Contains(out, "row by row") {
		t.Fatalf("a chunk fell back to the row path; log:\n%s", out)
	}
	sameRows(t, tableText(t, e.dst, "t.*"), tableText(t, e.src, "t.*"))
	var nulls, empties int
	db := openPGDB(t, e.dst)
	if err := db.QueryRow(`SELECT count(*) FILTER (WHERE s IS NULL AND id < 100), count(*) FILTER (WHERE s = '') FROM t`).Scan(&nulls, &empties); err != nil {
		t.Fatal(err)
	}
	if nulls != 10 || empties != 1 { // ids 1 and 7..15 without s; 2
		t.Errorf("NULL texts %d, empty texts %d; want 10 and 1", nulls, empties)
	}
}

// TestBackfillBulkNotForMappedFlows checks that flows which change rows, or
// whose target types differ, backfill through the mapping instead, and
// still arrive.
func TestBackfillBulkNotForMappedFlows(t *testing.T) {
	for _, tc := range []struct {
		name, target, flow, cols string
	}{
		{"renamed column", strings.Replace(bulkTable, " s text,", " label text,", 1),
			`, columns: {id: id, label: s, c: c, n: n, nn: nn, f: f, r: r, ts: ts, tl: tl, d: d, tm: tm, iv: iv, b: b, ai: ai, at: at, j: j, u: u, ok: ok}`,
			"id, label, n, ts, b, ai, j"},
		{"filter", bulkTable, `, filter: "id % 2 == 0"`, "id, s, n, ts, b, ai, j"},
		{"other type", strings.Replace(bulkTable, "n numeric(30,10)", "n numeric(40,12)", 1), "", "id, s, ts, b, ai, j"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newBulkEnv(t, tc.target)
			out := e.run(t, tc.flow)
			if strings.Contains(out, "backfill by bulk copy") {
				t.Fatalf("the bulk path was taken for a flow it cannot serve; log:\n%s", out)
			}
			srcCols := strings.Replace(tc.cols, "label", "s", 1)
			want := tableText(t, e.src, srcCols)
			if tc.name == "filter" {
				want = queryStrings(t, openPGDB(t, e.src), "SELECT ("+srcCols+")::text FROM t WHERE id % 2 = 0 ORDER BY id")
			}
			sameRows(t, tableText(t, e.dst, tc.cols), want)
		})
	}
}

// TestBackfillBulkRejectedChunkParksRow checks that a row the target
// refuses (a CHECK constraint) does not stop a bulk backfill: its chunk is
// applied row by row, the row goes to the dead-letter queue, the rest
// arrive.
func TestBackfillBulkRejectedChunkParksRow(t *testing.T) {
	e := newBulkEnv(t, strings.Replace(bulkTable, "ok boolean)", "ok boolean, CHECK (s IS DISTINCT FROM 'row 60000'))", 1))
	out := e.run(t, "")
	if !strings.Contains(out, "backfill by bulk copy") || !strings.Contains(out, "row by row") {
		t.Fatalf("want the bulk path with one chunk row by row; log:\n%s", out)
	}
	want := queryStrings(t, openPGDB(t, e.src), "SELECT t::text FROM t WHERE id <> 60000 ORDER BY id")
	sameRows(t, tableText(t, e.dst, "t.*"), want)
	if !strings.Contains(out, "parked in the dead-letter queue") {
		t.Errorf("the refused row was not parked; log:\n%s", out)
	}
}
