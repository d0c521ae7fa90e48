package cli

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/builtin"
)

// openPG opens a database/sql handle on a PostgreSQL DSN.
func openPG(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// scanAll reads a whole table through syncbridge's own driver, in key order,
// as typed rows: content comparisons across engines compare values (a
// numeric 1.50 equals a SQLite 1.5, a timestamptz equals the same instant in
// text), not text renderings.
func scanAll(t *testing.T, driver, dsn, table string) []change.Row {
	t.Helper()
	ctx := context.Background()
	reg, err := connector.NewRegistry(builtin.Drivers()...)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := reg.Driver(driver)
	st, err := d.Open(ctx, connector.StoreConfig{Name: "check", Driver: driver, DSN: dsn}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tbl, err := st.Describe(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	var out []change.Row
	var after change.Key
	for {
		rows, err := st.(connector.Scanner).Scan(ctx, connector.ScanRequest{Table: table, Key: tbl.Key, After: after, Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
		if len(rows) < 5000 {
			return out
		}
		after, _ = change.KeyOf(rows[len(rows)-1], tbl.Key)
	}
}

// sameContent compares two tables' rows column by column (cols maps a
// column of want to the column of got holding the same data).
func sameContent(t *testing.T, want, got []change.Row, cols map[string]string) {
	t.Helper()
	var diffs []string
	if len(want) != len(got) {
		diffs = append(diffs, "row counts differ")
	}
	for i := 0; i < len(want) && i < len(got) && len(diffs) < 5; i++ {
		for wc, gc := range cols {
			w, g := want[i][wc], got[i][gc]
			if !sameValue(w, g) {
				diffs = append(diffs, wc+"="+w.String()+" vs "+gc+"="+g.String()+" in row "+want[i]["id"].String())
			}
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("content differs (%d vs %d rows): %s", len(want), len(got), strings.Join(diffs, "; "))
	}
}

// sameValue is change.Equal, but lets an int equal a decimal of the same
// value (SQLite stores a whole numeric as an integer).
func sameValue(a, b change.Value) bool {
	if change.Equal(a, b) {
		return true
	}
	num := func(v change.Value) (change.Value, bool) {
		switch v.Kind {
		case change.KindInt, change.KindDecimal, change.KindFloat:
			d, err := change.Decimal(v.String())
			return d, err == nil
		}
		return v, false
	}
	da, ok1 := num(a)
	db, ok2 := num(b)
	return ok1 && ok2 && change.Equal(da, db)
}
