package cli

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// migrationDir holds the example this test runs: its schemas and its config.
const migrationDir = "../../examples/migration"

// TestMigrationScenario runs examples/migration end to end: a legacy
// MariaDB schema and a platform PostgreSQL schema, both written while three
// staged both-way flows (customers → addresses → orders) keep them in step
// with foreign keys on both sides. It backfills, lets both applications
// change rows (some of them the same rows), runs until quiet and checks that
// both sides hold the same rows under the mapping, that the platform owns
// email, that lww picked the newest write for the rest, that no change was
// parked (a foreign key violation would be) and that a further run applies
// nothing.
func TestMigrationScenario(t *testing.T) {
	e := &env{t: t, dir: t.TempDir()}
	e.cfgPath = filepath.Join(e.dir, "syncbridge.yaml")
	legacyDSN := testenv.MariaDB(t).NewDatabase(t)
	platformDSN := testenv.Postgres(t).NewDatabase(t)
	legacy, platform := openMy(t, legacyDSN), openPG(t, platformDSN)
	for _, s := range sqlStatements(t, "legacy.sql") {
		e.exec(legacy, s)
	}
	for _, s := range sqlStatements(t, "platform.sql") {
		e.exec(platform, s)
	}
	cfg, err := os.ReadFile(filepath.Join(migrationDir, "syncbridge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.writeConfig(string(cfg))
	t.Setenv("LEGACY_DSN", legacyDSN)
	t.Setenv("PLATFORM_DSN", platformDSN)

	t0 := time.Date(2026, 11, 20, 9, 0, 0, 1000, time.UTC)
	t1, t2 := t0.Add(24*time.Hour), t0.Add(25*time.Hour)
	my := func(at time.Time) string { return at.Format("2006-01-02 15:04:05.000000") }
	e.exec(legacy, `INSERT INTO CUST_MSTR VALUES
	  (1, 'Ada', 'Lovelace', 'ada@example.com', 1, ?),
	  (2, 'Alan', 'Turing', 'alan@example.com', 1, ?),
	  (3, 'Grace', 'Hopper', 'grace@example.com', 0, ?),
	  (4, 'Edsger', 'Dijkstra', 'edsger@example.com', 1, ?),
	  (6, 'Tony', 'Hoare', 'tony@example.com', 1, ?)`, my(t0), my(t0), my(t0), my(t0), my(t0))
	e.exec(legacy, `INSERT INTO ADDR_MSTR VALUES (10, 1, 'London', 'W1'), (11, 2, 'Wilmslow', NULL),
	  (12, 3, 'Arlington', '22201'), (13, 4, 'Austin', '78701'), (15, 6, 'Oxford', 'OX1')`)
	e.exec(legacy, `INSERT INTO ORD_HDR VALUES (100, 1, 19.99, ?), (101, 2, 250.00, ?), (102, 1, 5.50, ?), (104, 6, 7.00, ?)`,
		my(t0), my(t0), my(t0), my(t0))

	e.mustRun("run", "--once", "--no-progress")
	sameMigration(t, legacyDSN, platformDSN)

	// The legacy application: a last name (newer than the platform's edit
	// of the same customer), a flag, an email the platform also changes, a
	// last name older than the platform's edit; a new customer with its
	// address and order in one transaction (three flows, each streaming on
	// its own: the children can reach the platform first and must wait for
	// their parent there, not be parked); and a customer deleted with its
	// address and order in one transaction (the parent's delete must wait
	// for its children's).
	e.exec(legacy, `UPDATE CUST_MSTR SET CUST_LNM = 'King', UPD_DT = ? WHERE CUST_ID = 1`, my(t2))
	e.exec(legacy, `UPDATE CUST_MSTR SET ACTV_FLG = 0, UPD_DT = ? WHERE CUST_ID = 2`, my(t1))
	e.exec(legacy, `UPDATE CUST_MSTR SET EMAIL_ADR = 'grace@legacy.example', ACTV_FLG = 1, UPD_DT = ? WHERE CUST_ID = 3`, my(t2))
	e.exec(legacy, `UPDATE CUST_MSTR SET CUST_LNM = 'Dykstra', UPD_DT = ? WHERE CUST_ID = 4`, my(t1))
	e.inTx(legacy,
		`INSERT INTO CUST_MSTR VALUES (5, 'Barbara', 'Liskov', 'barbara@example.com', 1, '`+my(t1)+`')`,
		`INSERT INTO ADDR_MSTR VALUES (14, 5, 'Cambridge', '02139')`,
		`INSERT INTO ORD_HDR VALUES (103, 5, 42.00, '`+my(t1)+`')`)
	e.inTx(legacy,
		`DELETE FROM ORD_HDR WHERE CUST_ID = 6`,
		`DELETE FROM ADDR_MSTR WHERE CUST_ID = 6`,
		`DELETE FROM CUST_MSTR WHERE CUST_ID = 6`)
	// The platform application: an email (the platform owns it), two
	// full names, one older and one newer than the legacy edit, an order
	// for an existing customer, and a new customer with an order in one
	// transaction (the same race the other way, against the legacy
	// schema's foreign keys).
	e.exec(platform, `UPDATE customers SET email = 'grace@platform.example', updated_at = $1 WHERE id = 3`, t1)
	e.exec(platform, `UPDATE customers SET full_name = 'Ada Byron', updated_at = $1 WHERE id = 1`, t1)
	e.exec(platform, `UPDATE customers SET full_name = 'Edsger Wybe', updated_at = $1 WHERE id = 4`, t2)
	e.exec(platform, `INSERT INTO orders VALUES (200, 2, 99.95, $1)`, t1)
	e.inTx(platform,
		`INSERT INTO customers VALUES (7, 'Niklaus Wirth', 'niklaus@example.com', true, '`+t1.Format(time.RFC3339Nano)+`')`,
		`INSERT INTO addresses VALUES (16, 7, 'Zurich', '8092')`,
		`INSERT INTO orders VALUES (201, 7, 12.50, '`+t1.Format(time.RFC3339Nano)+`')`)

	quiet := false
	for round := 0; round < 5 && !quiet; round++ {
		before := appliedTotal(t, e)
		e.mustRun("run", "--once", "--no-progress")
		quiet = appliedTotal(t, e) == before
	}
	if !quiet {
		t.Fatal("five runs after the writes stopped still applied changes")
	}
	sameMigration(t, legacyDSN, platformDSN)

	want := []string{
		"1 Ada King ada@example.com true " + t2.Format(time.RFC3339Nano),
		"2 Alan Turing alan@example.com false " + t1.Format(time.RFC3339Nano),
		"3 Grace Hopper grace@platform.example true " + t2.Format(time.RFC3339Nano),
		"4 Edsger Wybe edsger@example.com true " + t2.Format(time.RFC3339Nano),
		"5 Barbara Liskov barbara@example.com true " + t1.Format(time.RFC3339Nano),
		"7 Niklaus Wirth niklaus@example.com true " + t1.Format(time.RFC3339Nano),
	}
	got := queryRows(t, platform, `SELECT concat_ws(' ', id, full_name, email, active::text,
	  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM customers ORDER BY id`)
	sameRows(t, want, got)
	if n := queryRows(t, platform, `SELECT string_agg(id::text, ' ' ORDER BY id) FROM orders`); n[0] != "100 101 102 103 200 201" {
		t.Errorf("platform holds orders %s, want 100 101 102 103 200 201", n[0])
	}

	if n, out := parkedCount(e); n > 0 {
		t.Errorf("%d changes were parked:\n%s", n, out)
	}

	before := appliedTotal(t, e)
	e.mustRun("run", "--once", "--no-progress")
	if after := appliedTotal(t, e); after != before {
		t.Errorf("a run with no writes applied %d changes: an echo loop", after-before)
	}
	t.Logf("conflicts:\n%s", e.mustRun("conflicts", "list"))
}

// inTx runs statements in one transaction of db.
func (e *env) inTx(db *sql.DB, stmts ...string) {
	e.t.Helper()
	tx, err := db.Begin()
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range stmts {
		if _, err := tx.Exec(q); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
}

// sqlStatements reads a schema file of the example as single statements
// (the MySQL connection does not take several at once).
func sqlStatements(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(migrationDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	var out []string
	for _, s := range strings.Split(strings.Join(lines, "\n"), ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// sameMigration compares the three tables of both sides under the
// example's mapping, full_name being CUST_FNM + " " + CUST_LNM.
func sameMigration(t *testing.T, legacyDSN, platformDSN string) {
	t.Helper()
	customers := scanAll(t, "mysql", legacyDSN, "CUST_MSTR")
	for _, r := range customers {
		r["full_name"] = change.Text(r["CUST_FNM"].String() + " " + r["CUST_LNM"].String())
	}
	sameAcross(t, customers, scanAll(t, "postgres", platformDSN, "customers"), map[string]string{
		"CUST_ID": "id", "full_name": "full_name", "EMAIL_ADR": "email", "ACTV_FLG": "active", "UPD_DT": "updated_at"})
	sameAcross(t, scanAll(t, "mysql", legacyDSN, "ADDR_MSTR"), scanAll(t, "postgres", platformDSN, "addresses"), map[string]string{
		"ADDR_ID": "id", "CUST_ID": "customer_id", "CITY_NM": "city", "ZIP_CD": "postal_code"})
	sameAcross(t, scanAll(t, "mysql", legacyDSN, "ORD_HDR"), scanAll(t, "postgres", platformDSN, "orders"), map[string]string{
		"ORD_NO": "id", "CUST_ID": "customer_id", "ORD_AMT": "amount", "ORD_DT": "ordered_at"})
}
