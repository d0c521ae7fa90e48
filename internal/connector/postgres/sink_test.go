package postgres_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
)

func upsertRow(id int64, email string, qty int64) change.Change {
	return change.Change{ID: fmt.Sprintf("c%d", id), Op: change.OpInsert, Key: change.Key{change.Int(id)},
		After: change.Row{"id": change.Int(id), "email": change.Text(email), "qty": change.Int(qty)}}
}

// TestApplyErrorConstraint checks that a constraint violation in the middle
// of a batch names that change, keeps the ones before it, and leaves the
// transaction usable, with either strategy.
func TestApplyErrorConstraint(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	for _, strategy := range allStrategies {
		table := fmt.Sprintf("acct_%d", strategy)
		e.exec(`CREATE TABLE ` + table + ` (id int PRIMARY KEY, email text UNIQUE, qty int CHECK (qty >= 0))`)
		sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: table, Table: table})
		if err != nil {
			t.Fatal(err)
		}
		sk.(*postgres.Sink).SetStrategy(strategy)
		tx, err := sk.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		batch := []change.Change{
			upsertRow(1, "a@x", 1),
			upsertRow(2, "b@x", 2),
			{ID: "d9", Op: change.OpDelete, Key: change.Key{change.Int(9)}},
			upsertRow(3, "a@x", 3), // unique violation on email
			upsertRow(4, "d@x", 4),
		}
		err = tx.Apply(ctx, batch)
		var ae *connector.ApplyError
		if !errors.As(err, &ae) || ae.Index != 3 || !ae.Permanent {
			t.Fatalf("strategy %d: apply = %v, want a permanent ApplyError at index 3", strategy, err)
		}
		t.Logf("strategy %d: %v", strategy, ae)
		// Usable: the rest, then a check violation, then commit.
		if err := tx.Apply(ctx, batch[4:]); err != nil {
			t.Fatalf("strategy %d: apply after an ApplyError: %v", strategy, err)
		}
		err = tx.Apply(ctx, []change.Change{upsertRow(5, "e@x", -1)})
		if !errors.As(err, &ae) || ae.Index != 0 || !ae.Permanent {
			t.Fatalf("strategy %d: check violation = %v, want a permanent ApplyError at index 0", strategy, err)
		}
		// A column the table lacks is refused before any SQL.
		bad := upsertRow(6, "f@x", 6)
		bad.After["nope"] = change.Int(1)
		err = tx.Apply(ctx, []change.Change{upsertRow(7, "g@x", 7), bad})
		if !errors.As(err, &ae) || ae.Index != 1 || !ae.Permanent {
			t.Fatalf("strategy %d: unknown column = %v, want a permanent ApplyError at index 1", strategy, err)
		}
		if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
			t.Fatalf("strategy %d: commit: %v", strategy, err)
		}
		rows, err := e.store.(connector.Scanner).Scan(ctx, connector.ScanRequest{Table: table, Key: []string{"id"}, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range rows {
			ids = append(ids, r["id"].AsInt())
		}
		if fmt.Sprint(ids) != "[1 2 4 7]" {
			t.Errorf("strategy %d: ids = %v, want [1 2 4 7]", strategy, ids)
		}
	}
}

// TestReplayStreamIdempotent applies a captured workload, then replays it
// whole and in overlapping windows: the target always ends equal to the
// source.
func TestReplayStreamIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE src (id int PRIMARY KEY, v text, n numeric(10,3))", "CREATE TABLE dst (LIKE src INCLUDING ALL)")
	src, from := logicalSource(ctx, t, e, "replay", "src")
	e.exec("INSERT INTO src SELECT g, 'v' || g, g / 7.0 FROM generate_series(1, 3000) g")
	e.exec("UPDATE src SET v = v || '!' WHERE id % 3 = 0", "DELETE FROM src WHERE id % 5 = 0")
	e.exec("INSERT INTO src VALUES (5, 'back', 1.5)", "UPDATE src SET n = NULL WHERE id = 5")
	e.exec("DELETE FROM src WHERE id = 6", "INSERT INTO src VALUES (6, 'again', 0)")
	cs, _ := readToBoundary(ctx, t, openStream(ctx, t, src, from), 3000+1000+600+2+2)
	for _, strategy := range allStrategies {
		e.exec("TRUNCATE dst")
		applyWith(ctx, t, e.store, "dst", strategy, cs)
		applyWith(ctx, t, e.store, "dst", strategy, cs)
		for lo := 0; lo < len(cs); lo += 700 {
			applyWith(ctx, t, e.store, "dst", strategy, cs[lo:min(len(cs), lo+1000)])
		}
		if diff := tableDiff(ctx, t, e.dsn, "src", "dst"); diff != "" {
			t.Errorf("strategy %d: target differs after replays:\n%.500s", strategy, diff)
		}
	}
}

// TestCopyInsertsOfExistingKeys checks that a run of inserts written with
// COPY straight into the table still upserts when a key is already there
// (a transaction replayed after a restart): the run falls back to the
// staging table instead of failing or keeping the old row.
func TestCopyInsertsOfExistingKeys(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(`CREATE TABLE acct (id int PRIMARY KEY, email text, qty int)`, `INSERT INTO acct VALUES (2, 'old', 0)`)
	sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "acct", Table: "acct"})
	if err != nil {
		t.Fatal(err)
	}
	sk.(*postgres.Sink).SetStrategy(postgres.StrategyCopy)
	for round := 0; round < 2; round++ { // the second round replays the first
		tx, err := sk.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Apply(ctx, []change.Change{upsertRow(1, "a", 1), upsertRow(2, "b", 2), upsertRow(3, "c\t\\", 3)}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := e.store.(connector.Scanner).Scan(ctx, connector.ScanRequest{Table: "acct", Key: []string{"id"}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows); len(rows) != 3 || rows[1]["email"].String() != "b" || rows[1]["qty"].AsInt() != 2 || rows[2]["email"].String() != "c\t\\" {
		t.Fatalf("rows = %s", got)
	}
}
