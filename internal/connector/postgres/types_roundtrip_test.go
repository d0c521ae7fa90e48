package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
)

// typesDDL is a table with a column of every type the driver maps.
const typesDDL = `
	CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
	CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
	CREATE TABLE %s (
		id bigint PRIMARY KEY,
		b boolean, i2 smallint, i4 integer, i8 bigint,
		num numeric, num2 numeric(12,2), big numeric(1000, 500),
		f4 real, f8 double precision,
		t text, vc varchar(20), ch char(3),
		ts timestamptz, tsl timestamp, d date, tm time, tmz timetz, iv interval,
		j json, jb jsonb, u uuid, by bytea,
		ia integer[], ta text[], na numeric[], ia2 integer[][], ba bytea[],
		e mood, ea mood[], dom posint, ip inet
	)`

// typesRows are INSERTs of edge values: precision, microseconds, NULL
// versus empty, Unicode, quoting inside arrays.
var typesRows = []string{
	`(1, true, -32768, 2147483647, -9223372036854775808,
	  '123456789012345678901234567890.123456789012345678901234567890', '-0.01',
	  ('1' || repeat('0', 499) || '.' || repeat('9', 500))::numeric,
	  3.4028235e38, 0.1,
	  'naïve ✓ 🎉 ''quoted'' "double" \back', '', 'ab',
	  '2024-05-06 07:08:09.123456+02', '2024-05-06 07:08:09.123456', '2024-02-29', '23:59:59.999999', '12:00:00.5+05:30',
	  '1 year 2 mons 3 days 04:05:06.789',
	  '{"b": 1, "a": [1.50, "x"]}', '{"b": 1, "a": [1.50, "ü"]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff0a27',
	  '{1,NULL,3}', '{"a b","c\"d","NULL",NULL,"","e\\f"}', '{1.10,-2}', '{{1,2},{3,4}}', '{"\\x0102",NULL}',
	  'happy', '{sad,happy}', 7, '192.168.0.1/24')`,
	`(2, false, 0, 0, 0, '0', '0.00', '0', 'NaN', '-Infinity', '', NULL, NULL,
	  'infinity', '-infinity', '0001-01-01', '00:00:00', '00:00:00+00', '0 seconds',
	  'null', '[]', '00000000-0000-0000-0000-000000000000', '',
	  '{}', '{}', '{}', '{}', '{}', 'sad', '{}', 1, '::1')`,
	`(3, NULL, NULL, NULL, NULL, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
}

// TestTypesRoundTrip reads every type through a snapshot and through logical
// capture, checks both give the same Values (and a few exact ones), then
// applies them through the sink into a copy of the table and compares the
// two tables' text forms in the database.
func TestTypesRoundTrip(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(fmt.Sprintf(typesDDL, "src"), "CREATE TABLE dst (LIKE src)", "ALTER TABLE dst ADD PRIMARY KEY (id)")
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: "types", Table: "src", Capture: connector.CaptureLogical})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.(connector.Preparer).Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	from, err := src.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO src VALUES " + strings.Join(typesRows, ", "))

	snap, err := src.Snapshot(ctx, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) != len(typesRows) {
		t.Fatalf("snapshot read %d rows, want %d", len(snap), len(typesRows))
	}
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cdc := readChanges(ctx, t, st, len(typesRows))
	for i := range snap {
		for col, sv := range snap[i].After {
			cv, ok := cdc[i].After[col]
			if !ok || !change.Equal(sv, cv) {
				t.Errorf("row %d column %s: snapshot %s %q, logical %s %q", i+1, col, sv.Kind, sv, cv.Kind, cv)
			}
		}
		if len(snap[i].After) != len(cdc[i].After) {
			t.Errorf("row %d: snapshot has %d columns, logical %d", i+1, len(snap[i].After), len(cdc[i].After))
		}
	}

	r1 := snap[0].After
	ts := time.Date(2024, 5, 6, 5, 8, 9, 123456000, time.UTC)
	for col, want := range map[string]change.Value{
		"num":  change.MustDecimal("123456789012345678901234567890.123456789012345678901234567890"),
		"num2": change.MustDecimal("-0.01"),
		"big":  change.MustDecimal("1" + strings.Repeat("0", 499) + "." + strings.Repeat("9", 500)),
		"f8":   change.Float(0.1),
		"t":    change.Text(`naïve ✓ 🎉 'quoted' "double" \back`),
		"vc":   change.Text(""),
		"ch":   change.Text("ab "),
		"ts":   change.Timestamp(ts),
		"tsl":  change.Timestamp(ts.Add(2 * time.Hour)),
		"d":    change.Date(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)),
		"tm":   change.TimeOfDay("23:59:59.999999"),
		"jb":   change.JSON(`{"a": [1.50, "ü"], "b": 1}`),
		"u":    change.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
		"by":   change.Bytes([]byte{0, 0xff, '\n', '\''}),
		"ia":   change.Array([]change.Value{change.Int(1), change.Null, change.Int(3)}),
		"e":    change.Text("happy"),
		"dom":  change.Int(7),
	} {
		if got := r1[col]; !change.Equal(got, want) {
			t.Errorf("row 1 %s = %s %q, want %s %q", col, got.Kind, got, want.Kind, want)
		}
	}
	if r2 := snap[1].After; !change.Equal(r2["t"], change.Text("")) || !r2["vc"].IsNull() {
		t.Errorf("row 2: t = %v (want empty text), vc = %v (want NULL)", r2["t"], r2["vc"])
	}

	// Apply both reads through the sink: the target must equal the source.
	for _, strategy := range allStrategies {
		for name, changes := range map[string][]change.Change{"snapshot": snap, "logical": cdc} {
			e.exec("TRUNCATE dst")
			applyWith(ctx, t, e.store, "dst", strategy, changes)
			if diff := tableDiff(ctx, t, e.dsn, "src", "dst"); diff != "" {
				t.Errorf("strategy %d, %s changes: target differs:\n%s", strategy, name, diff)
			}
		}
	}
	// Unnest cannot carry array columns (it falls back to VALUES for runs
	// that write them): check it on the others.
	e.exec("TRUNCATE dst")
	var noArrays []change.Change
	for _, c := range snap {
		c.After = c.After.Clone()
		for _, col := range []string{"ia", "ta", "na", "ia2", "ba", "ea"} {
			delete(c.After, col)
		}
		noArrays = append(noArrays, c)
	}
	applyWith(ctx, t, e.store, "dst", postgres.StrategyUnnest, noArrays)
	e.exec("UPDATE dst d SET ia = s.ia, ta = s.ta, na = s.na, ia2 = s.ia2, ba = s.ba, ea = s.ea FROM src s WHERE s.id = d.id")
	if diff := tableDiff(ctx, t, e.dsn, "src", "dst"); diff != "" {
		t.Errorf("strategy unnest: target differs:\n%s", diff)
	}
}

// allStrategies are the sink's ways of writing, each tested for equal
// results.
var allStrategies = []postgres.Strategy{postgres.StrategyValues, postgres.StrategyUnnest, postgres.StrategyCopy, postgres.StrategyAuto}

// readChanges reads n changes from st, failing after a deadline.
func readChanges(ctx context.Context, t testing.TB, st connector.Stream, n int) []change.Change {
	t.Helper()
	var out []change.Change
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d changes", len(out), n)
		}
		b, err := st.Next(ctx, 1000)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		out = append(out, b.Changes...)
	}
	return out
}

// applyWith applies changes to table in one transaction.
func applyWith(ctx context.Context, t testing.TB, st connector.Store, table string, strategy postgres.Strategy, changes []change.Change) {
	t.Helper()
	sk, err := st.Sink(ctx, connector.SinkSpec{Flow: "apply_" + table, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	sk.(*postgres.Sink).SetStrategy(strategy)
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	mapped := make([]change.Change, len(changes))
	for i, c := range changes {
		c.Table = table
		mapped[i] = c
	}
	if err := tx.Apply(ctx, mapped); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
		t.Fatal(err)
	}
}

// tableDiff compares two tables row by row in their text form, in the
// database (so equality is PostgreSQL's own rendering of every value).
func tableDiff(ctx context.Context, t testing.TB, dsn, a, b string) string {
	t.Helper()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	read := func(table string) []string {
		rows, err := c.Query(ctx, "SELECT x::text FROM "+pgx.Identifier{table}.Sanitize()+" x ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ra, rb := read(a), read(b)
	var diff []string
	for i := 0; i < max(len(ra), len(rb)); i++ {
		var x, y string
		if i < len(ra) {
			x = ra[i]
		}
		if i < len(rb) {
			y = rb[i]
		}
		if x != y {
			diff = append(diff, fmt.Sprintf("- %s\n+ %s", x, y))
		}
	}
	return strings.Join(diff, "\n")
}
