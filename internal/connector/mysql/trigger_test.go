package mysql_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/connectortest"
	"github.com/syncbridge/syncbridge/internal/connector/mysql"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// TestTriggerConformance runs the source suite on `capture: trigger`.
func TestTriggerConformance(t *testing.T) {
	e := openEnv(t, testenv.MariaDB(t).NewDatabase(t), connector.CaptureTrigger)
	e.warmPool(t)
	connectortest.RunSource(t, e)
}

// triggerSource opens and prepares a trigger source on table for flow and
// returns it with the position taken after Prepare.
func triggerSource(ctx context.Context, t *testing.T, e *env, flow, table string) (connector.Source, change.Position) {
	t.Helper()
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: flow, Table: table, Capture: connector.CaptureTrigger})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.(connector.Preparer).Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	return src, mustPosition(ctx, t, src)
}

func openStreamT(ctx context.Context, t *testing.T, src connector.Source, from change.Position) connector.Stream {
	t.Helper()
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestTriggerOutOfIDOrderCommits checks that the stream never passes a log
// id an open transaction holds: InnoDB draws AUTO_INCREMENT ids at insert,
// not at commit, so transaction A below holds log id 1 while B logs id 2
// and commits first. The stream must wait for A, then hand out both (and
// A's later row) without a boundary inside A.
func TestTriggerOutOfIDOrderCommits(t *testing.T) {
	e := openEnv(t, testenv.MariaDB(t).NewDatabase(t), connector.CaptureTrigger)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
	src, from := triggerSource(ctx, t, e, "trg_open", "t")

	txA, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback()
	if _, err := txA.ExecContext(ctx, "INSERT INTO t VALUES (1, 'a')"); err != nil { // log id 1, open
		t.Fatal(err)
	}
	e.exec("INSERT INTO t VALUES (2, 'b')") // log id 2, committed

	st := openStreamT(ctx, t, src, from)
	for i := 0; i < 4; i++ {
		b, err := st.Next(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Changes) > 0 {
			t.Fatalf("handed out key %v while a transaction holding an earlier log id is open", b.Changes[0].Key)
		}
		if b.CaughtUp {
			t.Fatal("caught up while a transaction holding an earlier log id is open")
		}
	}
	if _, err := txA.ExecContext(ctx, "INSERT INTO t VALUES (3, 'a')"); err != nil { // log id 3
		t.Fatal(err)
	}
	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var txIDs []string
	for len(keys) < 3 {
		b, err := st.Next(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b.Changes {
			keys = append(keys, c.Key.String())
			txIDs = append(txIDs, c.TxID)
		}
		if b.Position != nil && len(b.Changes) > 0 && len(keys) < 3 {
			t.Fatalf("a boundary after %v splits the transaction of 1 and 3", keys)
		}
	}
	if fmt.Sprint(keys) != "[1 2 3]" {
		t.Fatalf("keys %v, want [1 2 3] (log order)", keys)
	}
	if txIDs[0] != txIDs[2] || txIDs[0] == txIDs[1] {
		t.Errorf("transaction ids %v: want 1 and 3 to share one, 2 another", txIDs)
	}
}

// TestTriggerBusyConnection checks that a connection that is always inside
// a transaction does not stall the stream (the reader queues for its
// writer row instead of waiting to catch it idle).
func TestTriggerBusyConnection(t *testing.T) {
	e := openEnv(t, testenv.MariaDB(t).NewDatabase(t), connector.CaptureTrigger)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
	src, from := triggerSource(ctx, t, e, "trg_busy", "t")
	conn, err := e.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan error, 1)
	stop := make(chan struct{})
	const txs = 40
	go func() {
		defer close(done)
		for i := 1; i <= txs; i++ {
			if _, err := conn.ExecContext(ctx, "START TRANSACTION"); err != nil {
				done <- err
				return
			}
			if _, err := conn.ExecContext(ctx, "INSERT INTO t VALUES (?, 'busy')", i); err != nil {
				done <- err
				return
			}
			time.Sleep(50 * time.Millisecond) // the writer row stays locked nearly all the time
			if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
				done <- err
				return
			}
		}
		<-stop
	}()
	st := openStreamT(ctx, t, src, from)
	cs, _ := readN(ctx, t, st, txs, 100)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		if c.Key[0].AsInt() != int64(i+1) {
			t.Fatalf("change %d: key %v, want %d", i, c.Key, i+1)
		}
	}
}

// TestTriggerPrune checks that acknowledged log rows are deleted up to the
// slowest flow reading the table, and that resuming from before the pruned
// id is ErrPositionLost.
func TestTriggerPrune(t *testing.T) {
	e := openEnv(t, testenv.MariaDB(t).NewDatabase(t), connector.CaptureTrigger)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
	fast, from := triggerSource(ctx, t, e, "fast", "t")
	slow, _ := triggerSource(ctx, t, e, "slow", "t")
	e.exec("INSERT INTO t VALUES (1, 'a')", "INSERT INTO t VALUES (2, 'b')")
	logRows := func() int {
		var n int
		if err := e.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM _syncbridge_log").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	stSlow := openStreamT(ctx, t, slow, from)
	_, first := readN(ctx, t, stSlow, 2, 100)
	e.exec("INSERT INTO t VALUES (3, 'c')")

	stFast := openStreamT(ctx, t, fast, from)
	_, all := readN(ctx, t, stFast, 3, 100)
	if err := stFast.Ack(ctx, all); err != nil {
		t.Fatal(err)
	}
	if n := logRows(); n != 3 {
		t.Fatalf("%d log rows after only one of two flows acked; want all 3 kept", n)
	}
	if err := stSlow.Ack(ctx, first); err != nil {
		t.Fatal(err)
	}
	if n := logRows(); n != 1 {
		t.Fatalf("%d log rows after the slow flow acked its first transaction; want 1", n)
	}
	_, rest := readN(ctx, t, stSlow, 1, 100)
	if err := stSlow.Ack(ctx, rest); err != nil {
		t.Fatal(err)
	}
	if n := logRows(); n != 0 {
		t.Fatalf("%d log rows after every flow acked everything; want 0", n)
	}
	err := slow.(connector.ResumeChecker).CheckResume(ctx, from)
	if !errors.Is(err, connector.ErrPositionLost) || !strings.Contains(err.Error(), "syncbridge reset --flow slow") {
		t.Errorf("CheckResume from before the pruned ids: %v; want ErrPositionLost naming the fix", err)
	}
	if err := slow.(connector.ResumeChecker).CheckResume(ctx, rest); err != nil {
		t.Errorf("CheckResume from the acked position: %v", err)
	}
	// The stream opened without a position resumes at the acked cursor.
	e.exec("INSERT INTO t VALUES (4, 'd')")
	cs, _ := readN(ctx, t, openStreamT(ctx, t, slow, nil), 1, 100)
	if cs[0].Key.String() != "4" {
		t.Errorf("stream from the cursor starts at %v, want 4", cs[0].Key)
	}
}

// TestTriggerValuesRoundTrip checks that every type comes out of the
// trigger log exactly as the SQL read path (Scan) reads it, whatever the
// writing session's time_zone.
func TestTriggerValuesRoundTrip(t *testing.T) {
	e := openEnv(t, testenv.MariaDB(t).NewDatabase(t), connector.CaptureTrigger)
	ctx := ctxT(t)
	e.exec(`CREATE TABLE ty (
		id BIGINT UNSIGNED PRIMARY KEY,
		dec_ DECIMAL(30,10), dt DATETIME(6), ts TIMESTAMP(6) NULL, d DATE, tm TIME(6), yr YEAR,
		js JSON, bl BLOB, bin BINARY(4), vb VARBINARY(10),
		txt VARCHAR(100) CHARACTER SET utf8mb4, lat VARCHAR(20) CHARACTER SET latin1,
		en ENUM('a','b c','d''e'), st SET('x','y','z'), bt BIT(10),
		fl FLOAT, db DOUBLE, bo TINYINT(1), ti TINYINT, ub BIGINT UNSIGNED, sb BIGINT)`)
	src, from := triggerSource(ctx, t, e, "types", "ty")
	conn, err := e.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SET time_zone = '+05:30'",
		`INSERT INTO ty VALUES (18446744073709551615, '-12345678901234567890.0123456789', '2024-02-29 23:59:59.000001',
			'2024-05-06 12:08:09.123456', '1999-12-31', '-838:59:59.000000', 2155,
			'{"a": [1, 2.50, "xé"], "b": null}', X'00FF0A5C22', X'01020000', X'',
			'héllo 🌍 "q" \\ end', 'café', 'd''e', 'x,z', b'1010000001',
			1.1, 0.1, 1, -128, 18446744073709551615, -9223372036854775808)`,
		`INSERT INTO ty (id, txt, bl, vb) VALUES (2, '', '', NULL)`,
		"INSERT INTO ty (id) VALUES (3)",
		"UPDATE ty SET dec_ = '0.0000000001', tm = '00:00:00.5', txt = NULL WHERE id = 2",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	st := openStreamT(ctx, t, src, from)
	cs, _ := readN(ctx, t, st, 4, 100)
	want, err := e.store.(connector.Scanner).Scan(ctx, connector.ScanRequest{Table: "ty", Key: []string{"id"}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]change.Row{}
	for _, r := range want {
		byKey[r["id"].String()] = r
	}
	latest := map[string]change.Row{}
	for _, c := range cs {
		latest[c.Key.String()] = c.After
	}
	if len(byKey) != 3 || len(latest) != 3 {
		t.Fatalf("scanned %d rows, captured %d keys; want 3", len(byKey), len(latest))
	}
	for k, w := range byKey {
		g := latest[k]
		for col, wv := range w {
			gv, ok := g[col]
			if !ok {
				t.Errorf("row %s: column %s missing", k, col)
				continue
			}
			if !change.Equal(gv, wv) || gv.Kind != wv.Kind || gv.String() != wv.String() {
				t.Errorf("row %s column %s: captured %s %q, read %s %q", k, col, gv.Kind, gv.String(), wv.Kind, wv.String())
			}
		}
	}
	if v := latest["2"]["txt"]; v.Kind != change.KindNull {
		t.Errorf("updated txt = %s %q, want NULL", v.Kind, v.String())
	}
	if v := cs[1].After["txt"]; v.Kind != change.KindText || v.String() != "" {
		t.Errorf("inserted txt = %s %q, want empty text, not NULL", v.Kind, v.String())
	}
	if ts := latest[maxU64]["ts"]; !ts.AsTime().Equal(time.Date(2024, 5, 6, 6, 38, 9, 123456000, time.UTC)) {
		t.Errorf("ts written at +05:30 = %v, want 06:38:09.123456 UTC", ts.AsTime())
	}
	if c := cs[3]; c.Op != change.OpUpdate || fmt.Sprint(c.Columns) != "[dec_ tm txt]" || c.Before["txt"].String() != "" {
		t.Errorf("update: %s columns %v before txt %q; want update of [dec_ tm txt] from ''", c.Op, c.Columns, c.Before["txt"].String())
	}
}

const maxU64 = "18446744073709551615"

// TestTriggerEchoOrigin checks that the writes of a sink with
// SuppressCapture carry its origin (which the engine drops), and that those
// of a plain sink and of an application carry none.
func TestTriggerEchoOrigin(t *testing.T) {
	e := openEnv(t, testenv.MariaDB(t).NewDatabase(t), connector.CaptureTrigger)
	ctx := ctxT(t)
	e.exec("CREATE TABLE echo (id BIGINT PRIMARY KEY, name TEXT)")
	src, from := triggerSource(ctx, t, e, "reader", "echo")
	marking, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "back", Table: "echo", Key: []string{"id"}, SuppressCapture: true})
	if err != nil {
		t.Fatal(err)
	}
	defer marking.Close()
	plain, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "plain", Table: "echo", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()

	applyTx(ctx, t, marking, 1, 2)
	applyTx(ctx, t, plain, 3)
	e.exec("INSERT INTO echo VALUES (4, 'app')")
	applyTx(ctx, t, marking, 1)
	// The marking sink's connection back in the pool must not mark the
	// plain sink's writes when it gets that connection.
	marking.Close()
	plain2, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "plain2", Table: "echo", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	defer plain2.Close()
	applyTx(ctx, t, plain2, 5)

	st := openStreamT(ctx, t, src, from)
	got, _ := readN(ctx, t, st, 6, 100)
	origin := mysql.OriginName("back")
	want := []string{origin, origin, "", "", origin, ""}
	for i, c := range got {
		if c.Origin != want[i] {
			t.Errorf("change %d (%s key %s): origin %q, want %q", i, c.Op, c.Key, c.Origin, want[i])
		}
	}
}

// TestTriggerPrepareUpgrades checks that Prepare is idempotent and follows
// the table: after ALTER TABLE it replaces the triggers, and the new
// column is captured.
func TestTriggerPrepareUpgrades(t *testing.T) {
	e := openEnv(t, testenv.MariaDB(t).NewDatabase(t), connector.CaptureTrigger)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
	src, from := triggerSource(ctx, t, e, "up", "t")
	triggers := func() string {
		rows, err := e.db.QueryContext(ctx, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		return strings.Join(names, ",")
	}
	before := triggers()
	if err := src.(connector.Preparer).Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if got := triggers(); got != before || strings.Count(got, ",") != 2 {
		t.Fatalf("triggers after a second Prepare: %s; want the same three as %s", got, before)
	}
	e.exec("INSERT INTO t VALUES (1, 'a')")
	e.exec("ALTER TABLE t ADD COLUMN w INT")
	if err := src.(connector.Preparer).Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if got := triggers(); got == before || strings.Count(got, ",") != 2 {
		t.Fatalf("triggers after ALTER TABLE and Prepare: %s; want three new ones (were %s)", got, before)
	}
	e.exec("INSERT INTO t VALUES (2, 'b', 7)")
	cs, _ := readN(ctx, t, openStreamT(ctx, t, src, from), 2, 100)
	if _, ok := cs[0].After["w"]; ok {
		t.Errorf("row logged before the column existed carries it: %v", cs[0].After)
	}
	if w := cs[1].After["w"]; w.Kind != change.KindInt || w.AsInt() != 7 {
		t.Errorf("new column w = %s %q, want 7", w.Kind, w.String())
	}
}

// TestTriggerCheckCapture checks that validate names the missing
// privileges and settings of trigger capture with their exact fixes.
func TestTriggerCheckCapture(t *testing.T) {
	srv := testenv.MariaDB(t)
	dsn := srv.NewDatabase(t)
	ctx := ctxT(t)
	root := openEnv(t, dsn, connector.CaptureTrigger)
	root.exec("CREATE TABLE t (id INT PRIMARY KEY)")
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	user := "sb_lim_" + fmt.Sprint(time.Now().UnixNano()%1e6)
	admin := func(q string) {
		if _, err := root.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	admin("CREATE USER '" + user + "'@'%' IDENTIFIED BY 'pw'")
	t.Cleanup(func() { root.db.Exec("DROP USER '" + user + "'@'%'") })
	admin("GRANT SELECT, INSERT ON `" + cfg.DBName + "`.* TO '" + user + "'@'%'")
	cfg.User, cfg.Passwd = user, "pw"
	lim := openEnv(t, cfg.FormatDSN(), connector.CaptureTrigger)
	spec := connector.SourceSpec{Flow: "f", Table: "t", Capture: connector.CaptureTrigger}
	err = lim.store.(connector.CaptureChecker).CheckCapture(ctx, spec)
	if err == nil {
		t.Fatal("CheckCapture passed for a user without TRIGGER")
	}
	for _, want := range []string{
		"GRANT TRIGGER ON `" + cfg.DBName + "`.`t` TO '" + user + "'@'<host>'",
		"GRANT CREATE, UPDATE, DELETE ON `" + cfg.DBName + "`.* TO '" + user + "'@'<host>'",
		"SET GLOBAL log_bin_trust_function_creators = 1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	// Prepare fails the same way, with the fix.
	src, err := lim.store.Source(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.(connector.Preparer).Prepare(ctx); err == nil || !strings.Contains(err.Error(), "fix:") {
		t.Errorf("Prepare without privileges: %v; want the fix", err)
	}

	// With the grants and the setting it passes.
	admin("GRANT TRIGGER, CREATE, UPDATE, DELETE ON `" + cfg.DBName + "`.* TO '" + user + "'@'%'")
	var trust int
	if err := root.db.QueryRowContext(ctx, "SELECT @@GLOBAL.log_bin_trust_function_creators").Scan(&trust); err != nil {
		t.Fatal(err)
	}
	admin("SET GLOBAL log_bin_trust_function_creators = 1")
	t.Cleanup(func() { root.db.Exec(fmt.Sprintf("SET GLOBAL log_bin_trust_function_creators = %d", trust)) })
	// Database grants reach a connection when it next selects the
	// database: open the store again.
	lim = openEnv(t, cfg.FormatDSN(), connector.CaptureTrigger)
	if err := lim.store.(connector.CaptureChecker).CheckCapture(ctx, spec); err != nil {
		t.Errorf("CheckCapture with every grant: %v", err)
	}
	if src, err = lim.store.Source(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := src.(connector.Preparer).Prepare(ctx); err != nil {
		t.Errorf("Prepare with every grant: %v", err)
	}
}

// TestBinlogRowMetadataRecommendation checks that validating binlog
// capture on a server without binlog_row_metadata=FULL logs the
// recommendation, without failing.
func TestBinlogRowMetadataRecommendation(t *testing.T) {
	dsn := testenv.MariaDB(t).NewDatabase(t)
	ctx := ctxT(t)
	var buf bytes.Buffer
	st, err := mysql.Open(ctx, connector.StoreConfig{Name: "my", Driver: "mysql", DSN: dsn, Capture: connector.CaptureBinlog},
		slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := openEnv(t, dsn, connector.CaptureBinlog)
	e.exec("CREATE TABLE t (id INT PRIMARY KEY)")
	var meta string
	if err := e.db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_row_metadata").Scan(&meta); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckCapture(ctx, connector.SourceSpec{Flow: "f", Table: "t", Capture: connector.CaptureBinlog}); err != nil {
		t.Fatalf("CheckCapture: %v", err)
	}
	const want = "SET GLOBAL binlog_row_metadata = FULL (and in my.cnf): without it a DDL that keeps the column count cannot be detected"
	if got := strings.Contains(buf.String(), want); got != !strings.EqualFold(meta, "FULL") {
		t.Errorf("binlog_row_metadata=%s: log %q; want the recommendation only when not FULL", meta, buf.String())
	}
}
