// Command quickstart shows syncbridge at work on two SQLite databases with
// different schemas: a "legacy" monolith's and a new "platform"'s. It creates
// both, writes a config, validates it, runs the sync, changes the legacy
// side, syncs again and prints what each step did.
//
//	go run ./examples/quickstart            # work files in ./syncbridge-quickstart
//	go run ./examples/quickstart -dir /tmp/qs
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/syncbridge/syncbridge/internal/cli"
	_ "modernc.org/sqlite"
)

const legacySchema = `
CREATE TABLE CUST_MSTR (
  CUST_ID   INTEGER PRIMARY KEY,
  CUST_FNM  TEXT NOT NULL,
  CUST_LNM  TEXT NOT NULL,
  EMAIL_ADR TEXT,
  STS_CD    TEXT NOT NULL,          -- 'A' active, 'I' inactive, 'X' purged
  BAL_AMT   DECIMAL(12,2) NOT NULL,
  UPD_TS    DATETIME NOT NULL
);
CREATE TABLE ORD_HDR (
  ORD_NO  INTEGER PRIMARY KEY,
  CUST_ID INTEGER NOT NULL REFERENCES CUST_MSTR(CUST_ID),
  ORD_AMT DECIMAL(12,2) NOT NULL,
  ORD_DT  DATETIME NOT NULL
);
INSERT INTO CUST_MSTR VALUES
  (1, 'Ada',    'Lovelace', ' Ada@Example.COM ',  'A', '1815.12', '2026-11-20 09:00:00.000001'),
  (2, 'Alan',   'Turing',   'alan@example.com',   'A', '1912.06', '2026-11-20 09:00:00.000002'),
  (3, 'Grace',  'Hopper',   'GRACE@EXAMPLE.COM',  'I', '1906.12', '2026-11-20 09:00:00.000003'),
  (4, 'Edsger', 'Dijkstra', 'edsger@example.com', 'X', '0.00',    '2026-11-20 09:00:00.000004');
INSERT INTO ORD_HDR VALUES
  (100, 1, '19.99',  '2026-11-21 10:00:00'),
  (101, 2, '250.00', '2026-11-21 11:30:00'),
  (102, 1, '5.50',   '2026-11-21 12:15:00');
`

const platformSchema = `
CREATE TABLE customers (
  id         INTEGER PRIMARY KEY,
  full_name  TEXT NOT NULL,
  email      TEXT,
  active     BOOLEAN NOT NULL,
  balance    DECIMAL(12,2) NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE TABLE orders (
  id          INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  amount      DECIMAL(12,2) NOT NULL,
  ordered_at  DATETIME NOT NULL
);
`

const configText = `# syncbridge quickstart: legacy (cryptic names) -> platform (new schema)
state: ./syncbridge-state.db
http: {listen: "off"}
log: {level: warn}
stores:
  legacy:   {driver: sqlite, dsn: ./legacy.db, capture: trigger}
  platform: {driver: sqlite, dsn: ./platform.db}
flows:
  - name: customers
    from: {store: legacy, table: CUST_MSTR}
    to:   {store: platform, table: customers}
    key: [CUST_ID]
    filter: STS_CD != "X"                       # purged customers are not synced
    columns:
      id: CUST_ID
      full_name: CUST_FNM + " " + CUST_LNM      # two legacy columns become one
      email: lower(trim(EMAIL_ADR))
      active: STS_CD == "A"
      balance: BAL_AMT
      updated_at: UPD_TS
  - name: orders
    after: [customers]                          # backfilled once customers are in
    from: {store: legacy, table: ORD_HDR}
    to:   {store: platform, table: orders}
    key: [ORD_NO]
    columns:
      id: ORD_NO
      customer_id: CUST_ID
      amount: ORD_AMT
      ordered_at: ORD_DT
`

func main() {
	dir := flag.String("dir", "syncbridge-quickstart", "directory for the demo's databases and config (recreated)")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	legacy, err := create(filepath.Join(dir, "legacy.db"), legacySchema)
	if err != nil {
		return err
	}
	defer legacy.Close()
	platform, err := create(filepath.Join(dir, "platform.db"), platformSchema)
	if err != nil {
		return err
	}
	defer platform.Close()
	cfg := filepath.Join(dir, "syncbridge.yaml")
	if err := os.WriteFile(cfg, []byte(configText), 0o644); err != nil {
		return err
	}
	step("1. Two databases with different schemas, created in " + dir)
	show(legacy, "legacy CUST_MSTR", `SELECT CUST_ID, CUST_FNM, CUST_LNM, EMAIL_ADR, STS_CD, BAL_AMT, UPD_TS FROM CUST_MSTR ORDER BY 1`)

	step("2. Check the config against both databases (nothing is written)")
	if err := syncbridge("validate", "-c", cfg); err != nil {
		return err
	}
	step("3. First run: backfill both flows (customers before orders), then exit")
	if err := syncbridge("run", "--once", "-c", cfg); err != nil {
		return err
	}
	show(platform, "platform customers", `SELECT id, full_name, email, active, balance, updated_at FROM customers ORDER BY 1`)
	show(platform, "platform orders", `SELECT id, customer_id, amount, ordered_at FROM orders ORDER BY 1`)

	step("4. The legacy app keeps working: rename, deactivate, a new customer with an order, a deleted order")
	for _, q := range []string{
		`UPDATE CUST_MSTR SET CUST_LNM = 'King-Noel', UPD_TS = '2026-11-22 08:00:00' WHERE CUST_ID = 1`,
		`UPDATE CUST_MSTR SET STS_CD = 'I', UPD_TS = '2026-11-22 08:00:01' WHERE CUST_ID = 2`,
		`INSERT INTO CUST_MSTR VALUES (5, 'Barbara', 'Liskov', 'Barbara@MIT.edu', 'A', '42.00', '2026-11-22 08:00:02')`,
		`INSERT INTO ORD_HDR VALUES (103, 5, '99.90', '2026-11-22 08:00:03')`,
		`DELETE FROM ORD_HDR WHERE ORD_NO = 102`,
	} {
		fmt.Println("   legacy> " + q)
		if _, err := legacy.Exec(q); err != nil {
			return err
		}
	}
	step("5. Second run: only the changes flow (captured by triggers), then exit")
	if err := syncbridge("run", "--once", "-c", cfg); err != nil {
		return err
	}
	show(platform, "platform customers", `SELECT id, full_name, email, active, balance, updated_at FROM customers ORDER BY 1`)
	show(platform, "platform orders", `SELECT id, customer_id, amount, ordered_at FROM orders ORDER BY 1`)

	step("6. Status from the state store")
	if err := syncbridge("status", "-c", cfg); err != nil {
		return err
	}
	fmt.Printf("\nDone. Try it yourself:\n  go run ./cmd/syncbridge run -c %s          # continuous; change %s and watch\n", cfg, filepath.Join(dir, "legacy.db"))
	return nil
}

func create(path, schema string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return db, nil
}

func step(s string) { fmt.Printf("\n== %s\n", s) }

// syncbridge runs the real command line in-process, echoing it first.
func syncbridge(args ...string) error {
	fmt.Println("$ syncbridge " + strings.Join(args, " "))
	if code := cli.Execute(context.Background(), args, os.Stdout, os.Stdout); code != 0 {
		return fmt.Errorf("syncbridge %s exited %d", args[0], code)
	}
	return nil
}

func show(db *sql.DB, title, q string) {
	rows, err := db.Query(q)
	if err != nil {
		fmt.Println("  ", err)
		return
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	fmt.Printf("   -- %s\n", title)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "   "+strings.Join(cols, "\t"))
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		cells := make([]string, len(vals))
		for i, v := range vals {
			switch x := v.(type) {
			case []byte:
				v = string(x)
			case time.Time:
				v = x.Format("2006-01-02 15:04:05.999999")
			}
			cells[i] = fmt.Sprint(v)
		}
		fmt.Fprintln(w, "   "+strings.Join(cells, "\t"))
	}
	w.Flush()
}
