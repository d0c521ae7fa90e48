package state_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/state/statetest"
)

func TestSQLite(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "state.db"))
	})
}

// openSQLite opens a store on path that is closed when the test ends.
func openSQLite(t *testing.T, path string) *state.SQLiteStore {
	t.Helper()
	s, err := state.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// migrationVersions lists the versions goose recorded in the file, read
// directly so that the store under test is not the judge of itself.
func migrationVersions(t *testing.T, path string) []int64 {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT version_id FROM goose_db_version ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestSQLiteReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openSQLite(t, path)
	cp := connector.Checkpoint{Flow: "f", Phase: connector.PhaseStream, Position: change.Position("0/1")}
	if err := s.SaveCheckpoint(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if err := s.AcquireLease(ctx, "flow/f", "first", time.Hour); err != nil {
		t.Fatal(err)
	}
	s.Close()

	for range 2 {
		s = openSQLite(t, path)
		got, err := s.Checkpoint(ctx, "f")
		if err != nil || got == nil || string(got.Position) != "0/1" {
			t.Fatalf("checkpoint after reopen = %+v, %v; want position 0/1", got, err)
		}
		if err := s.AcquireLease(ctx, "flow/f", "second", time.Hour); !errors.Is(err, state.ErrLeaseHeld) {
			t.Fatalf("lease after reopen: %v, want it still held by first", err)
		}
		s.Close()
	}
	if d := cmp.Diff([]int64{0, 1, 2, 3}, migrationVersions(t, path)); d != "" {
		t.Fatalf("goose versions after three opens (-want +got):\n%s", d)
	}
	if mode := journalMode(t, path); mode != "wal" {
		t.Errorf("journal_mode = %q, want wal: a status command would block the running engine", mode)
	}
}

// journalMode reads the file's journal mode, which WAL makes persistent.
func journalMode(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	return mode
}

func TestSQLiteConcurrentFirstOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := state.OpenSQLite(t.Context(), path)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent opens of a new file: %v", err)
	}
	if d := cmp.Diff([]int64{0, 1, 2, 3}, migrationVersions(t, path)); d != "" {
		t.Fatalf("goose versions (-want +got):\n%s", d)
	}
}

func TestSQLiteTwoStoresShareOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	run, cli := openSQLite(t, path), openSQLite(t, path)
	if err := run.AcquireLease(ctx, "flow/f", "run", time.Minute); err != nil {
		t.Fatal(err)
	}
	err := cli.AcquireLease(ctx, "flow/f", "cli", time.Minute)
	var held *state.LeaseHeldError
	if !errors.As(err, &held) || held.Holder != "run" {
		t.Fatalf("second store: AcquireLease = %v, want held by run", err)
	}
	if err := run.ReleaseLease(ctx, "flow/f", "run"); err != nil {
		t.Fatal(err)
	}
	if err := cli.AcquireLease(ctx, "flow/f", "cli", time.Minute); err != nil {
		t.Fatalf("second store after release: %v", err)
	}
}

// TestSQLiteTwoProcesses runs a second process (this test binary, re-run as
// sqliteChild) that opens the same new file while this one does: both
// migrate, park entries concurrently and compete for a lease.
func TestSQLiteTwoProcesses(t *testing.T) {
	if path := os.Getenv("SYNCBRIDGE_STATE_CHILD"); path != "" {
		sqliteChild(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSQLiteTwoProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SYNCBRIDGE_STATE_CHILD="+path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := openSQLite(t, path)
	parkMany(t, s, "parent")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out.String())
	}

	ctx := t.Context()
	all, err := s.DLQ(ctx, "")
	if err != nil || len(all) != 2*parkCount {
		t.Fatalf("DLQ after both processes parked %d entries: %d entries, %v", parkCount, len(all), err)
	}
	err = s.AcquireLease(ctx, "leader", "parent", time.Minute)
	var held *state.LeaseHeldError
	if !errors.As(err, &held) || held.Holder != "child" {
		t.Fatalf("AcquireLease after the child took it: %v, want held by child", err)
	}
}

// sqliteChild is the second process of TestSQLiteTwoProcesses.
func sqliteChild(t *testing.T, path string) {
	s := openSQLite(t, path)
	parkMany(t, s, "child")
	if err := s.AcquireLease(t.Context(), "leader", "child", time.Hour); err != nil {
		t.Fatal(err)
	}
}

const parkCount = 100

func parkMany(t *testing.T, s state.Store, who string) {
	t.Helper()
	for i := range parkCount {
		id := fmt.Sprintf("%s-%d", who, i)
		e := state.DLQEntry{Flow: "f", ChangeID: id, Key: id, Error: "x", Change: change.Change{
			ID: id, Flow: "f", Op: change.OpInsert, Table: "t", Key: change.Key{change.Text(id)},
		}}
		if err := s.Park(t.Context(), e); err != nil {
			t.Fatalf("%s: %v", who, err)
		}
	}
}

func TestOpenDispatch(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for _, c := range []struct{ arg, file string }{
		{filepath.Join(dir, "plain.db"), "plain.db"},
		{"sqlite://" + filepath.Join(dir, "scheme.db"), "scheme.db"},
		{"file:" + filepath.Join(dir, "file.db"), "file.db"},
		{filepath.Join(dir, "odd?name#1%.db"), "odd?name#1%.db"},
	} {
		s, err := state.Open(ctx, c.arg)
		if err != nil {
			t.Fatalf("Open(%q): %v", c.arg, err)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, c.file)); err != nil {
			t.Errorf("Open(%q) did not create %s: %v", c.arg, c.file, err)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := state.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=5")
	if err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Errorf("Open of an unreachable postgres:// DSN = %v, want a postgres error", err)
	}
	if _, err := state.Open(ctx, filepath.Join(dir, "missing", "state.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}
