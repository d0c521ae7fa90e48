package cli

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/testenv"
)

// TestOrderedStreamingUnderWriters streams three flows tied by after:
// (customers → orders → order items) from one source store into a PostgreSQL
// target whose foreign keys refuse any child before its parent and any
// parent deleted before its children. A writer keeps committing, each in
// one source transaction, a new customer with its orders and lines, a
// customer deleted with everything under it, a new order with lines for
// an existing customer, and renames, while syncbridge runs. Each flow
// streams on its own capture, so the children of a transaction routinely
// reach the target before their parent: they must wait for it, never be
// parked. Afterwards the target equals the source and the dead-letter
// queue is empty.
func TestOrderedStreamingUnderWriters(t *testing.T) {
	for _, src := range []string{"postgres", "mysql"} {
		t.Run(src, func(t *testing.T) { orderedStreaming(t, src) })
	}
}

func orderedStreaming(t *testing.T, srcDriver string) {
	e, src, dst := newShop(t, srcDriver, [3]int{50, 50, 50}, "20ms")
	w := &shopWriter{e: e, db: src, rnd: rand.New(rand.NewSource(7))}
	for range 20 {
		w.newCustomer()
	}
	cmd, out := e.process("run", "--no-progress")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			w.step()
		}
	}()
	time.Sleep(4 * time.Second)
	stop.Store(true)
	<-done
	t.Logf("writer: %d transactions (%d new customers, %d deletes)", w.txs, w.created, w.deleted)

	want := func() string { return shopContent(t, src) }
	for deadline := time.Now().Add(60 * time.Second); shopContent(t, dst) != want(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_, st := e.run("status")
			logs := out.String()
			t.Fatalf("the target does not equal the source after 60 s\n%s\n%s", st, logs[max(0, len(logs)-6000):])
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, out)
	}
	logs := out.String()
	t.Logf("foreign key refusals waited out: %d; parked: %d",
		strings.Count(logs, "foreign key refused a change"), strings.Count(logs, "change parked"))

	if n, js := parkedCount(e); n > 0 {
		t.Fatalf("%d changes were parked (a foreign key was violated out of order):\n%s\n%s", n, js, logs)
	}
	if w.created == 0 || w.deleted == 0 {
		t.Fatalf("the writer did not exercise both orders (created %d, deleted %d)", w.created, w.deleted)
	}
}

// newShop creates the shop tables (customers, orders, order items, with
// foreign keys) in a source of srcDriver ("postgres" or "mysql") and a
// PostgreSQL target, and writes a config of three flows tied by after:
// with the given batch sizes and linger.
func newShop(t *testing.T, srcDriver string, batch [3]int, linger string) (e *env, src, dst *sql.DB) {
	e = &env{t: t, dir: t.TempDir()}
	e.cfgPath = filepath.Join(e.dir, "syncbridge.yaml")
	dstDSN := testenv.Postgres(t).NewDatabase(t)
	dst = openPG(t, dstDSN)
	var srcDSN, capture string
	if srcDriver == "postgres" {
		srcDSN, capture = testenv.Postgres(t).NewDatabase(t), "logical"
		src = openPG(t, srcDSN)
	} else {
		srcDSN, capture = testenv.MariaDB(t).NewDatabase(t), "binlog"
		src = openMy(t, srcDSN)
	}
	for _, db := range []*sql.DB{src, dst} {
		e.exec(db, `CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL)`)
		e.exec(db, `CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL REFERENCES customers (id), amount DECIMAL(12,2) NOT NULL)`)
		e.exec(db, `CREATE TABLE order_items (id BIGINT PRIMARY KEY, order_id BIGINT NOT NULL REFERENCES orders (id), qty INT NOT NULL)`)
	}
	if srcDriver == "mysql" { // MariaDB ignores inline REFERENCES: declare them
		e.exec(src, `ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id)`)
		e.exec(src, `ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders (id)`)
	}
	e.writeConfig(fmt.Sprintf(`state: %s
http: {listen: "off"}
stores:
  shop:     {driver: %s, dsn: %q, capture: %s}
  platform: {driver: postgres, dsn: %q}
flows:
  - name: customers
    from: {store: shop, table: customers}
    to:   {store: platform, table: customers}
    batch: {size: %d, linger: %s}
  - name: orders
    after: [customers]
    from: {store: shop, table: orders}
    to:   {store: platform, table: orders}
    batch: {size: %d, linger: %s}
  - name: items
    after: [orders]
    from: {store: shop, table: order_items}
    to:   {store: platform, table: order_items}
    batch: {size: %d, linger: %s}
`, filepath.Join(e.dir, "state.db"), srcDriver, srcDSN, capture, dstDSN, batch[0], linger, batch[1], linger, batch[2], linger))
	return e, src, dst
}

// shopWriter writes parents and children in single transactions.
type shopWriter struct {
	e                     *env
	db                    *sql.DB
	rnd                   *rand.Rand
	next                  int64
	live                  []int64 // customers that exist
	txs, created, deleted int
}

func (w *shopWriter) id() int64 { w.next++; return w.next }

func (w *shopWriter) step() {
	switch n := w.rnd.Intn(10); {
	case n < 4 || len(w.live) < 5:
		w.newCustomer()
	case n < 6:
		w.deleteCustomer()
	case n < 8:
		c := w.live[w.rnd.Intn(len(w.live))]
		w.exec(w.orderStmts(c)...)
	default:
		c := w.live[w.rnd.Intn(len(w.live))]
		w.exec(fmt.Sprintf(`UPDATE customers SET name = 'renamed %d' WHERE id = %d`, w.rnd.Intn(1000), c))
	}
}

func (w *shopWriter) newCustomer() {
	c := w.id()
	stmts := []string{fmt.Sprintf(`INSERT INTO customers VALUES (%d, 'customer %d')`, c, c)}
	for range 1 + w.rnd.Intn(3) {
		stmts = append(stmts, w.orderStmts(c)...)
	}
	w.exec(stmts...)
	w.live = append(w.live, c)
	w.created++
}

func (w *shopWriter) orderStmts(c int64) []string {
	o := w.id()
	stmts := []string{fmt.Sprintf(`INSERT INTO orders VALUES (%d, %d, %d.25)`, o, c, w.rnd.Intn(500))}
	for range 1 + w.rnd.Intn(2) {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO order_items VALUES (%d, %d, %d)`, w.id(), o, 1+w.rnd.Intn(9)))
	}
	return stmts
}

func (w *shopWriter) deleteCustomer() {
	i := w.rnd.Intn(len(w.live))
	c := w.live[i]
	w.live = append(w.live[:i], w.live[i+1:]...)
	w.exec(
		fmt.Sprintf(`DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE customer_id = %d)`, c),
		fmt.Sprintf(`DELETE FROM orders WHERE customer_id = %d`, c),
		fmt.Sprintf(`DELETE FROM customers WHERE id = %d`, c))
	w.deleted++
}

func (w *shopWriter) exec(stmts ...string) {
	w.e.inTx(w.db, stmts...)
	w.txs++
}

// shopContent renders the three tables for comparison.
func shopContent(t *testing.T, db *sql.DB) string {
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, name FROM customers ORDER BY id`,
		`SELECT id, customer_id, amount FROM orders ORDER BY id`,
		`SELECT id, order_id, qty FROM order_items ORDER BY id`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				b.WriteString(v.String)
				b.WriteByte(' ')
			}
			b.WriteByte('\n')
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		b.WriteString("--\n")
	}
	return b.String()
}

// TestOrderedStreamingSQLite is TestOrderedStreamingUnderWriters for a
// SQLite source (trigger capture, which has no transaction ids: a refused
// change's prefix ends at the change itself) into a SQLite target
// enforcing foreign keys, with syncbridge running while the writer writes.
func TestOrderedStreamingSQLite(t *testing.T) {
	dir := t.TempDir()
	e := &env{t: t, dir: dir, cfgPath: filepath.Join(dir, "syncbridge.yaml")}
	src := openDB(t, filepath.Join(dir, "shop.db"))
	dstPath := filepath.Join(dir, "platform.db")
	dst := openDB(t, dstPath)
	for _, db := range []*sql.DB{src, dst} {
		e.exec(db, `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`)
		e.exec(db, `CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id), amount DECIMAL(12,2) NOT NULL)`)
		e.exec(db, `CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id), qty INTEGER NOT NULL)`)
	}
	e.writeConfig(fmt.Sprintf(`state: ./state.db
http: {listen: "off"}
stores:
  shop:     {driver: sqlite, dsn: ./shop.db, capture: trigger}
  platform: {driver: sqlite, dsn: "file:%s?_pragma=foreign_keys(1)"}
flows:
  - {name: customers, from: {store: shop, table: customers}, to: {store: platform, table: customers}, batch: {size: 20, linger: 10ms}}
  - {name: orders, after: [customers], from: {store: shop, table: orders}, to: {store: platform, table: orders}, batch: {size: 20, linger: 10ms}}
  - {name: items, after: [orders], from: {store: shop, table: order_items}, to: {store: platform, table: order_items}, batch: {size: 20, linger: 10ms}}
`, dstPath))
	w := &shopWriter{e: e, db: src, rnd: rand.New(rand.NewSource(11))}
	for range 10 {
		w.newCustomer()
	}
	cmd, out := e.process("run", "--no-progress")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for range 600 {
		w.step()
	}
	for deadline := time.Now().Add(60 * time.Second); shopContent(t, dst) != shopContent(t, src); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			logs := out.String()
			t.Fatalf("the target does not equal the source after 60 s\n%s", logs[max(0, len(logs)-6000):])
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, out)
	}
	t.Logf("writer: %d transactions (%d new customers, %d deletes); foreign key refusals waited out: %d",
		w.txs, w.created, w.deleted, strings.Count(out.String(), "foreign key refused a change"))
	if n, js := parkedCount(e); n > 0 {
		t.Fatalf("%d changes were parked:\n%s\n%s", n, js, out)
	}
}

// parkedCount is the number of dead-letter entries, and the listing.
func parkedCount(e *env) (int, string) {
	e.t.Helper()
	var dlq struct {
		Entries []json.RawMessage `json:"entries"`
	}
	js := e.mustRun("dlq", "list", "--format", "json")
	if err := json.Unmarshal([]byte(js), &dlq); err != nil {
		e.t.Fatalf("%v\n%s", err, js)
	}
	return len(dlq.Entries), js
}
