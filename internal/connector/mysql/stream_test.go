package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

func openBinlogSource(ctx context.Context, t *testing.T, e *env, flow, table string) connector.Source {
	t.Helper()
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: flow, Table: table, Key: []string{"id"}, Capture: connector.CaptureBinlog})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func mustPosition(ctx context.Context, t *testing.T, src connector.Source) change.Position {
	t.Helper()
	p, err := src.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readN reads until n changes and the boundary after them were read.
func readN(ctx context.Context, t *testing.T, st connector.Stream, n, max int) ([]change.Change, change.Position) {
	t.Helper()
	var out []change.Change
	for {
		b, err := st.Next(ctx, max)
		if err != nil {
			t.Fatalf("next after %d of %d changes: %v", len(out), n, err)
		}
		out = append(out, b.Changes...)
		if len(out) > n {
			t.Fatalf("read %d changes, want %d", len(out), n)
		}
		if len(out) == n && b.Position != nil {
			return out, b.Position
		}
		if b.CaughtUp && len(b.Changes) == 0 && len(out) < n && ctx.Err() != nil {
			t.Fatalf("caught up after %d of %d changes", len(out), n)
		}
	}
}

func TestLargeTransactionPositionOnlyAtEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("200k rows")
	}
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(20))")
	src := openBinlogSource(ctx, t, e, "big", "big")
	from := mustPosition(ctx, t, src)
	const n = 200000
	e.exec(fmt.Sprintf("INSERT INTO big (id, v) SELECT seq, CONCAT('row ', seq) FROM seq_1_to_%d", n))
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	read, batches := 0, 0
	for read < n {
		b, err := st.Next(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		batches++
		for _, c := range b.Changes {
			read++
			if c.Op != change.OpInsert || c.Key[0].AsInt() != int64(read) {
				t.Fatalf("change %d: %s key %s, want insert %d", read, c.Op, c.Key, read)
			}
		}
		if read < n && b.Position != nil {
			t.Fatalf("batch %d ends inside the transaction (%d of %d) with Position %s", batches, read, n, b.Position)
		}
		if read == n && b.Position == nil {
			b, err = st.Next(ctx, 1000) // the commit may come in its own batch
			if err != nil || len(b.Changes) != 0 || b.Position == nil {
				t.Fatalf("after the last row: %d changes, position %s, %v; want the commit", len(b.Changes), b.Position, err)
			}
		}
	}
}

func TestRestartMidStreamResumes(t *testing.T) {
	srv := testenv.StartMariaDB(t)
	e := openEnv(t, srv.NewDatabase(t), connector.CaptureBinlog)
	ctx := ctxT(t)
	e.exec("CREATE TABLE r (id INT PRIMARY KEY, v TEXT)")
	src := openBinlogSource(ctx, t, e, "r", "r")
	from := mustPosition(ctx, t, src)
	e.exec("INSERT INTO r VALUES (1, 'a')", "INSERT INTO r VALUES (2, 'b')")
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	_, acked := readN(ctx, t, st, 2, 100)
	if err := st.Ack(ctx, acked); err != nil {
		t.Fatal(err)
	}
	// Written after the ack but never acknowledged: must come again.
	e.exec("INSERT INTO r VALUES (3, 'c')")
	readN(ctx, t, st, 1, 100)

	srv.Stop(t)
	var nextErr error
	for i := 0; i < 100 && nextErr == nil; i++ {
		_, nextErr = st.Next(ctx, 100)
	}
	if nextErr == nil {
		t.Fatal("stream did not fail after the server stopped")
	}
	st.Close()
	srv.Start(t)
	e.exec("INSERT INTO r VALUES (4, 'd')", "UPDATE r SET v = 'a2' WHERE id = 1")

	st2, err := src.Stream(ctx, acked)
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	defer st2.Close()
	cs, _ := readN(ctx, t, st2, 3, 100)
	var got []string
	for _, c := range cs {
		got = append(got, c.Op.String()+" "+c.Key.String())
	}
	if want := "insert 3,insert 4,update 1"; strings.Join(got, ",") != want {
		t.Errorf("after restart: %v, want %s", got, want)
	}
}

func TestPurgedBinlogIsPositionLost(t *testing.T) {
	srv := testenv.StartMariaDB(t)
	e := openEnv(t, srv.NewDatabase(t), connector.CaptureBinlog)
	ctx := ctxT(t)
	e.exec("CREATE TABLE p (id INT PRIMARY KEY)")
	src := openBinlogSource(ctx, t, e, "p", "p")
	from := mustPosition(ctx, t, src)
	e.exec("INSERT INTO p VALUES (1)")
	e.exec("FLUSH BINARY LOGS")
	e.exec("INSERT INTO p VALUES (2)")
	e.exec("FLUSH BINARY LOGS")
	var file string
	var pos int64
	if err := e.db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, new(any), new(any)); err != nil {
		t.Fatal(err)
	}
	// MariaDB keeps a binlog until InnoDB has checkpointed the transactions
	// in it (innodb_flush_log_at_trx_commit=2 delays that): retry.
	for i := 0; ; i++ {
		e.exec("PURGE BINARY LOGS TO '" + file + "'")
		var first string
		if err := e.db.QueryRow("SHOW BINARY LOGS").Scan(&first, new(any)); err != nil {
			t.Fatal(err)
		}
		if first == file {
			break
		}
		if i == 100 {
			t.Fatalf("binlogs before %s not purged (first is still %s)", file, first)
		}
		time.Sleep(50 * time.Millisecond)
	}

	st, err := src.Stream(ctx, from)
	if err == nil {
		_, err = st.Next(ctx, 10)
		st.Close()
	}
	if !errors.Is(err, connector.ErrPositionLost) {
		t.Fatalf("stream from a purged position: %v; want ErrPositionLost", err)
	}
	if !strings.Contains(err.Error(), "re-backfill") {
		t.Errorf("error %q does not say how to recover", err)
	}
}

func TestCheckCapture(t *testing.T) {
	ctx := ctxT(t)
	e := newEnv(t)
	e.exec("CREATE TABLE ok (id INT PRIMARY KEY, at DATETIME(6))", "CREATE TABLE nokey (v INT)")
	cc := e.store.(connector.CaptureChecker)
	spec := connector.SourceSpec{Flow: "ok", Table: "ok", Capture: connector.CaptureBinlog}
	if err := cc.CheckCapture(ctx, spec); err != nil {
		t.Errorf("binlog on a ready server: %v", err)
	}
	if err := cc.CheckCapture(ctx, connector.SourceSpec{Flow: "nk", Table: "nokey", Capture: connector.CaptureBinlog}); err == nil ||
		!strings.Contains(err.Error(), "no primary key") {
		t.Errorf("key-less table: %v", err)
	}
	if err := cc.CheckCapture(ctx, connector.SourceSpec{Flow: "t", Table: "ok", Capture: connector.CaptureTrigger}); err != nil {
		t.Errorf("trigger as a user with every privilege: %v", err)
	}
	if err := cc.CheckCapture(ctx, connector.SourceSpec{Flow: "p", Table: "ok", Capture: connector.CapturePoll,
		Poll: connector.PollSpec{Column: "at"}}); err != nil {
		t.Errorf("poll: %v", err)
	}
	if err := cc.CheckCapture(ctx, connector.SourceSpec{Flow: "m", Table: "missing", Capture: connector.CaptureBinlog}); !errors.Is(err, connector.ErrTableNotFound) {
		t.Errorf("missing table: %v", err)
	}
}

func TestCheckCaptureStatementFormat(t *testing.T) {
	srv := testenv.StartMariaDB(t, "--binlog-format=STATEMENT", "--binlog-row-image=MINIMAL")
	e := openEnv(t, srv.NewDatabase(t), connector.CaptureBinlog)
	ctx := ctxT(t)
	e.exec("CREATE TABLE s (id INT PRIMARY KEY)")
	err := e.store.(connector.CaptureChecker).CheckCapture(ctx, connector.SourceSpec{Flow: "s", Table: "s"})
	if err == nil {
		t.Fatal("CheckCapture passed with binlog_format=STATEMENT")
	}
	for _, want := range []string{"binlog_format=ROW", "SET GLOBAL binlog_format = 'ROW'", "my.cnf",
		"binlog_row_image=FULL", "SET GLOBAL binlog_row_image = 'FULL'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}
