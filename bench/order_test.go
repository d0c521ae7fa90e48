package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"

	"github.com/syncbridge/syncbridge/internal/testenv"
)

// BenchmarkOrderedCatchUp measures what streaming in after: order costs
// (docs/adr/0003-ordered-streaming.md). Three flows tied by after:
// (customers → orders → items) catch up with a backlog of transactions
// that each insert a customer with two orders and four items, and a fifth
// of them later delete a customer with everything under it, into a
// PostgreSQL target with foreign keys ("fk": children routinely arrive
// first and wait for their parents) and into the same target without
// them ("nofk": the flows never wait). The ratio is fk time over nofk time.
//
//	go test ./bench -run '^$' -bench OrderedCatchUp -benchtime 2x -timeout 30m
func BenchmarkOrderedCatchUp(b *testing.B) {
	pg := testenv.Postgres(b)
	const txs = 5000
	var nofk time.Duration
	for _, mode := range []string{"nofk", "fk"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				src, dst := pg.NewDatabase(b), pg.NewDatabase(b)
				for _, db := range []struct {
					dsn string
					fk  bool
				}{{src, true}, {dst, mode == "fk"}} {
					ref := func(s string) string {
						if db.fk {
							return " REFERENCES " + s
						}
						return ""
					}
					exec1(b, db.dsn, `CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL)`)
					exec1(b, db.dsn, `CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL`+ref("customers (id)")+`, amount numeric(12,2))`)
					exec1(b, db.dsn, `CREATE TABLE items (id bigint PRIMARY KEY, order_id bigint NOT NULL`+ref("orders (id)")+`, qty int)`)
				}
				p, st, m := planFlows(b, fmt.Sprintf("  src: {driver: postgres, dsn: %q, capture: logical}\n  dst: {driver: postgres, dsn: %q}", src, dst), `
  - {name: customers, from: {store: src, table: customers}, to: {store: dst, table: customers}, batch: {size: 1000, linger: 100ms}}
  - {name: orders, after: [customers], from: {store: src, table: orders}, to: {store: dst, table: orders}, batch: {size: 1000, linger: 100ms}}
  - {name: items, after: [orders], from: {store: src, table: items}, to: {store: dst, table: items}, batch: {size: 1000, linger: 100ms}}
`)
				once(b, p, st, m) // empty backfill: slots and publications exist
				fillShop(b, src, txs)
				took, cpu := onceCPU(b, p, st, m)
				b.StopTimer()
				for _, t := range []string{"customers", "orders", "items"} {
					sameRows(b, src, dst, t)
				}
				waits := 0.0
				for _, f := range []string{"customers", "orders", "items"} {
					var v dto.Metric
					if err := m.OrderWaits.WithLabelValues(f).Write(&v); err != nil {
						b.Fatal(err)
					}
					waits += v.GetCounter().GetValue()
				}
				exec1(b, src, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'syncbridge_%'")
				b.StartTimer()
				changes := float64(txs*7 + txs/5*7)
				b.ReportMetric(changes/took.Seconds(), "changes/s")
				b.ReportMetric(waits, "order-waits")
				b.ReportMetric(cpu.Seconds(), "syncbridge-cpu-s")
				if mode == "nofk" {
					nofk = took
				} else if nofk > 0 {
					b.ReportMetric(took.Seconds()/nofk.Seconds(), "ratio-to-nofk")
				}
				b.Logf("%s: %.0f changes in %v (%.0f/s), %v CPU, %.0f foreign key refusals waited out", mode, changes,
					took.Round(time.Millisecond), changes/took.Seconds(), cpu.Round(time.Millisecond), waits)
			}
		})
	}
}

// fillShop commits txs transactions of one customer, two orders and four
// items, then deletes every fifth customer with everything under it, one
// transaction each.
func fillShop(b *testing.B, dsn string, txs int) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	for k := 1; k <= txs; k++ {
		batch := &pgx.Batch{}
		batch.Queue(`BEGIN`)
		batch.Queue(`INSERT INTO customers VALUES ($1, $2)`, k, fmt.Sprint("customer ", k))
		for o := 0; o < 2; o++ {
			oid := k*10 + o
			batch.Queue(`INSERT INTO orders VALUES ($1, $2, 9.99)`, oid, k)
			batch.Queue(`INSERT INTO items VALUES ($1, $2, 1), ($3, $2, 2)`, oid*10, oid, oid*10+1)
		}
		batch.Queue(`COMMIT`)
		if err := c.SendBatch(ctx, batch).Close(); err != nil {
			b.Fatal(err)
		}
	}
	for k := 5; k <= txs; k += 5 {
		batch := &pgx.Batch{}
		batch.Queue(`BEGIN`)
		batch.Queue(`DELETE FROM items WHERE order_id IN (SELECT id FROM orders WHERE customer_id = $1)`, k)
		batch.Queue(`DELETE FROM orders WHERE customer_id = $1`, k)
		batch.Queue(`DELETE FROM customers WHERE id = $1`, k)
		batch.Queue(`COMMIT`)
		if err := c.SendBatch(ctx, batch).Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// sameRows fails the benchmark unless table holds the same rows in both
// databases.
func sameRows(b *testing.B, src, dst, table string) {
	ctx := context.Background()
	digest := func(dsn string) string {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		var d string
		q := fmt.Sprintf("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY id)), '') FROM %s t", pgx.Identifier{table}.Sanitize())
		if err := c.QueryRow(ctx, q).Scan(&d); err != nil {
			b.Fatal(err)
		}
		return d
	}
	if s, d := digest(src), digest(dst); s != d {
		b.Fatalf("%s differs: source %s, target %s", table, s, d)
	}
}
