package statetest

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/state"
)

// parkedAt is a ParkedAt with the microsecond precision stores keep.
var parkedAt = time.Date(2026, 3, 1, 9, 15, 0, 654321000, time.UTC)

// entry returns a DLQ entry for a small change of flow with key id.
func entry(flow, changeID string, id int64) state.DLQEntry {
	k := change.Key{change.Int(id)}
	return state.DLQEntry{
		Flow: flow, ChangeID: changeID, Key: k.String(), Error: "constraint violation",
		Attempts: 3, ParkedAt: parkedAt,
		Change: change.Change{
			ID: changeID, Flow: flow, Op: change.OpUpdate, Table: "public.t", Key: k,
			After:      change.Row{"id": change.Int(id), "v": change.Text("x")},
			CommitTime: parkedAt,
		},
	}
}

func testParkIdempotent(t *testing.T, s state.Store) {
	ctx := t.Context()
	first := entry("f", "c1", 1)
	mustDo(t, s.Park(ctx, first))
	again := first
	again.Error, again.Attempts = "still failing", 5
	mustDo(t, s.Park(ctx, again)) // redelivered after a crash
	mustDo(t, s.Park(ctx, entry("f", "c2", 2)))

	got, err := s.DLQ(ctx, "f")
	mustDo(t, err)
	if len(got) != 2 || got[0].ChangeID != "c1" || got[1].ChangeID != "c2" {
		t.Fatalf("DLQ after parking c1 twice and c2 = %v, want [c1 c2]", changeIDs(got))
	}
	if got[0].Error != "still failing" || got[0].Attempts != 5 {
		t.Errorf("re-parked entry: error %q attempts %d, want the latest (%q, 5)",
			got[0].Error, got[0].Attempts, "still failing")
	}
	if got[0].Seq >= got[1].Seq {
		t.Errorf("re-park moved c1 behind c2: seqs %d, %d", got[0].Seq, got[1].Seq)
	}
}

func testParkEnvelopeRoundTrip(t *testing.T, s state.Store) {
	ctx := t.Context()
	commit := time.Date(2026, 2, 28, 23, 59, 59, 999999000, time.UTC)
	row := change.Row{
		"null": change.Null, "bool": change.Bool(true), "int": change.Int(math.MinInt64),
		"dec": change.MustDecimal("-0.000100"), "float": change.Float(0.1),
		"nan": change.Float(math.NaN()), "text": change.Text("nul\x00byte, ünïcödé, \"quoted\""),
		"bytes": change.Bytes([]byte{0, 0xfe, 0xff}), "ts": change.Timestamp(commit),
		"date": change.Date(commit), "time": change.TimeOfDay("23:59:59.999999"),
		"json": change.JSON(`{"a":[1,2.50,null]}`), "uuid": change.UUID("6f9619ff-8b86-d011-b42d-00cf4fc964ff"),
		"arr":     change.Array([]change.Value{change.Int(1), change.Null, change.Text("b")}),
		"unknown": change.Unknown("(1,2)", "point"),
	}
	before := row.Clone()
	before["text"] = change.Text("old")
	want := state.DLQEntry{
		Flow: "orders", ChangeID: "pg:0/16B3748:3", Key: "42|EU",
		Error: "apply: value too long for type character varying(10)", Waiting: true,
		Attempts: 7, ParkedAt: parkedAt,
		Change: change.Change{
			ID: "pg:0/16B3748:3", Flow: "orders", Op: change.OpUpdate, Table: "public.orders",
			Key:    change.Key{change.Int(42), change.Text("EU")},
			Before: before, After: row, Columns: []string{"text", "dec"},
			CommitTime: commit, TxID: "771", Position: change.Position{0, 1, 2, 0xff},
			Origin: "legacy", SchemaVersion: 3,
		},
	}
	mustDo(t, s.Park(ctx, want))
	got, err := s.DLQ(ctx, "orders")
	mustDo(t, err)
	if len(got) != 1 {
		t.Fatalf("DLQ has %d entries, want 1", len(got))
	}
	if got[0].Seq <= 0 {
		t.Errorf("Seq = %d, want a positive number assigned by Park", got[0].Seq)
	}
	want.Seq = got[0].Seq
	if d := cmp.Diff(want, got[0], valueEqual); d != "" {
		t.Fatalf("DLQ entry differs after round trip (-want +got):\n%s", d)
	}
}

func testParkDefaultsFromChange(t *testing.T, s state.Store) {
	ctx := t.Context()
	e := entry("f", "c1", 7)
	e.Flow, e.ChangeID, e.Key, e.ParkedAt = "", "", "", time.Time{}
	before := time.Now().Add(-time.Second)
	mustDo(t, s.Park(ctx, e))
	got, err := s.DLQ(ctx, "f")
	mustDo(t, err)
	if len(got) != 1 || got[0].ChangeID != "c1" || got[0].Key != "7" {
		t.Fatalf("entry parked without flow, id and key: got %+v, want them taken from the change", got)
	}
	if got[0].ParkedAt.Before(before) {
		t.Errorf("ParkedAt = %v, want about now", got[0].ParkedAt)
	}
	if err := s.Park(ctx, state.DLQEntry{Error: "x"}); err == nil {
		t.Error("Park of an entry with no flow and no change id succeeded")
	}
}

func testDLQOrder(t *testing.T, s state.Store) {
	ctx := t.Context()
	var all []string
	for i := range 10 {
		flow := "a" // interleaved: a, b, a, a, b, a, ...
		if i%3 == 1 {
			flow = "b"
		}
		id := fmt.Sprintf("%s-%d", flow, i)
		mustDo(t, s.Park(ctx, entry(flow, id, int64(i))))
		all = append(all, id)
	}
	got, err := s.DLQ(ctx, "")
	mustDo(t, err)
	if d := cmp.Diff(all, changeIDs(got)); d != "" {
		t.Fatalf(`DLQ("") is not in parking order (-want +got):\n%s`, d)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("seqs not increasing: %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	var onlyA []string
	for _, id := range all {
		if id[0] == 'a' {
			onlyA = append(onlyA, id)
		}
	}
	got, err = s.DLQ(ctx, "a")
	mustDo(t, err)
	if d := cmp.Diff(onlyA, changeIDs(got)); d != "" {
		t.Fatalf(`DLQ("a") (-want +got):\n%s`, d)
	}
}

func testParkedKeysAndUnpark(t *testing.T, s state.Store) {
	ctx := t.Context()
	mustDo(t, s.Park(ctx, entry("f", "c1", 1)))
	mustDo(t, s.Park(ctx, entry("f", "c2", 1))) // waits behind c1: same key
	mustDo(t, s.Park(ctx, entry("f", "c3", 2)))
	mustDo(t, s.Park(ctx, entry("g", "c4", 3)))
	keys, err := s.ParkedKeys(ctx, "f")
	mustDo(t, err)
	if d := cmp.Diff(map[string]bool{"1": true, "2": true}, keys); d != "" {
		t.Fatalf(`ParkedKeys("f") (-want +got):\n%s`, d)
	}

	entries, err := s.DLQ(ctx, "f")
	mustDo(t, err)
	mustDo(t, s.Unpark(ctx, entries[0].Seq, entries[2].Seq, 1<<40)) // an unknown seq is ignored
	mustDo(t, s.Unpark(ctx))
	entries, err = s.DLQ(ctx, "f")
	mustDo(t, err)
	if d := cmp.Diff([]string{"c2"}, changeIDs(entries)); d != "" {
		t.Fatalf("DLQ after unparking c1 and c3 (-want +got):\n%s", d)
	}
	keys, err = s.ParkedKeys(ctx, "f")
	mustDo(t, err)
	if d := cmp.Diff(map[string]bool{"1": true}, keys); d != "" {
		t.Fatalf("ParkedKeys after unpark (-want +got):\n%s", d)
	}
	mustDo(t, s.Unpark(ctx, entries[0].Seq))
	keys, err = s.ParkedKeys(ctx, "f")
	mustDo(t, err)
	if len(keys) != 0 {
		t.Fatalf("ParkedKeys of an emptied flow = %v, want none", keys)
	}
	if rest, err := s.DLQ(ctx, ""); err != nil || len(rest) != 1 || rest[0].Flow != "g" {
		t.Fatalf("other flows' entries after unparking f's: %v, %v", changeIDs(rest), err)
	}
}

func changeIDs(es []state.DLQEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ChangeID
	}
	return out
}
