package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
)

// TestOpenNeverLeaksPassword opens stores whose DSN holds a canary password
// that cannot be used (closed port, bad syntax) and checks the errors and
// the log.
func TestOpenNeverLeaksPassword(t *testing.T) {
	const canary = "Canary-S3cret%21pw"
	var logBuf strings.Builder
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, dsn := range []string{
		"postgres://app:" + canary + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
		"postgres://app:" + canary + "@127.0.0.1:notaport/db",
		"postgres://app:" + canary + "@[::1/db",
		"host=127.0.0.1 port=1 user=app password=" + canary + " dbname=db sslmode=disable connect_timeout=2",
		"host=127.0.0.1 port=1 user=app password='" + canary + " x' dbname=db connect_timeout=2",
		"host=127.0.0.1 port=bad password=" + canary,
		"postgres://app@127.0.0.1:1/db?password=" + canary + "&connect_timeout=2",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := postgres.Driver{}.Open(ctx, connector.StoreConfig{Name: "legacy", DSN: dsn}, log)
		cancel()
		if err == nil {
			t.Errorf("open %q succeeded", dsn)
			continue
		}
		for _, secret := range []string{canary, "Canary-S3cret!pw", "S3cret"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error for %q contains the password: %v", dsn, err)
			}
			for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
				if strings.Contains(u.Error(), secret) {
					t.Errorf("wrapped error for %q contains the password: %v", dsn, u)
				}
			}
		}
		if !strings.Contains(err.Error(), `store "legacy"`) {
			t.Errorf("error does not name the store: %v", err)
		}
	}
	if strings.Contains(logBuf.String(), "S3cret") {
		t.Errorf("log contains the password:\n%s", logBuf.String())
	}
}

func TestDescribe(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(`CREATE SCHEMA app`,
		`CREATE TABLE app.line (
			qty numeric(12,2) NOT NULL,
			order_id bigint,
			line_no int,
			total numeric GENERATED ALWAYS AS (qty * 2) STORED,
			note varchar(40),
			seq bigint GENERATED ALWAYS AS IDENTITY,
			PRIMARY KEY (order_id, line_no))`,
		`CREATE TABLE public.line (id int PRIMARY KEY)`)
	got, err := e.store.Describe(ctx, "app.line")
	if err != nil {
		t.Fatal(err)
	}
	want := &connector.Table{
		Name: "app.line",
		Key:  []string{"order_id", "line_no"},
		Columns: []connector.Column{
			{Name: "qty", Type: "numeric(12,2)", Kind: change.KindDecimal},
			{Name: "order_id", Type: "bigint", Kind: change.KindInt},
			{Name: "line_no", Type: "integer", Kind: change.KindInt},
			{Name: "total", Type: "numeric", Kind: change.KindDecimal, Nullable: true, Generated: true},
			{Name: "note", Type: "character varying(40)", Kind: change.KindText, Nullable: true},
			{Name: "seq", Type: "bigint", Kind: change.KindInt},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("describe app.line (-want +got):\n%s", diff)
	}
	if got, err := e.store.Describe(ctx, "line"); err != nil || len(got.Columns) != 1 {
		t.Errorf("describe line (search_path): %+v, %v; want public.line", got, err)
	}
	for _, name := range []string{"missing", "app.missing", "nope.line"} {
		if _, err := e.store.Describe(ctx, name); !errors.Is(err, connector.ErrTableNotFound) {
			t.Errorf("describe %s: %v, want ErrTableNotFound", name, err)
		}
	}
	for _, name := range []string{"", "a.b.c", `"unbalanced`, "app."} {
		if _, err := e.store.Describe(ctx, name); err == nil || errors.Is(err, connector.ErrTableNotFound) {
			t.Errorf("describe %q: %v, want a name error", name, err)
		}
	}

	// The sink writes around generated columns, and into an identity
	// column GENERATED ALWAYS.
	applyWith(ctx, t, e.store, "app.line", postgres.StrategyValues, []change.Change{{
		Op: change.OpInsert, Key: change.Key{change.Int(1), change.Int(1)},
		After: change.Row{"order_id": change.Int(1), "line_no": change.Int(1), "qty": change.MustDecimal("2.50"), "seq": change.Int(42)},
	}})
	rows, err := e.store.(connector.Scanner).Scan(ctx, connector.ScanRequest{Table: "app.line", Key: []string{"order_id", "line_no"}, Limit: 10})
	if err != nil || len(rows) != 1 {
		t.Fatalf("scan: %v, %v", rows, err)
	}
	if r := rows[0]; r["total"].String() != "5.00" || r["seq"].AsInt() != 42 {
		t.Errorf("row = %v, want total 5.00 and seq 42", r)
	}
}

// TestHostileIdentifiers runs snapshot, capture, apply and scan on schema,
// table and column names that break naive SQL building.
func TestHostileIdentifiers(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(`CREATE SCHEMA "Sch ema"`,
		`CREATE TABLE "Sch ema"."ta'b""le; DROP TABLE x; --" ("order" int PRIMARY KEY, "a""b" text, "select" text, "Ünï" text)`,
		`CREATE TABLE "Sch ema"."copy" (LIKE "Sch ema"."ta'b""le; DROP TABLE x; --")`,
		`ALTER TABLE "Sch ema"."copy" ADD PRIMARY KEY ("order")`)
	table := `"Sch ema"."ta'b""le; DROP TABLE x; --"`
	src, from := logicalSource(ctx, t, e, "hostile flow; --", table)
	e.exec(`INSERT INTO "Sch ema"."ta'b""le; DROP TABLE x; --" VALUES (1, 'x''y', 'z', 'ü'), (2, NULL, '', NULL)`)
	e.exec(`UPDATE "Sch ema"."ta'b""le; DROP TABLE x; --" SET "a""b" = 'changed' WHERE "order" = 2`)
	snap, err := src.Snapshot(ctx, nil, 10)
	if err != nil || len(snap) != 2 {
		t.Fatalf("snapshot: %d rows, %v", len(snap), err)
	}
	if next, err := src.Snapshot(ctx, snap[0].Key, 10); err != nil || len(next) != 1 {
		t.Fatalf("snapshot after %v: %d rows, %v", snap[0].Key, len(next), err)
	}
	cs, _ := readToBoundary(ctx, t, openStream(ctx, t, src, from), 3)
	applyWith(ctx, t, e.store, `"Sch ema".copy`, postgres.StrategyCopy, cs)
	applyWith(ctx, t, e.store, `"Sch ema".copy`, postgres.StrategyValues, append(cs, change.Change{
		Op: change.OpDelete, Key: change.Key{change.Int(1)}}))
	rows, err := e.store.(connector.Scanner).Scan(ctx, connector.ScanRequest{Table: `"Sch ema".copy`, Key: []string{"order"}, Limit: 10})
	if err != nil || len(rows) != 1 || rows[0]["a\"b"].String() != "changed" {
		t.Fatalf("scan of the copy: %v, %v", rows, err)
	}
}
