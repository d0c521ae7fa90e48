package statetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/state"
)

// Open returns a new, empty store for one test. Run closes it when the test
// ends; open registers with t.Cleanup whatever else must go (a temp schema).
type Open func(t *testing.T) state.Store

// Run checks every method of the stores open returns. Each case runs in
// parallel with a store of its own.
func Run(t *testing.T, open Open) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s state.Store)
	}{
		{"CheckpointRoundTrip", testCheckpointRoundTrip},
		{"CheckpointMissing", testCheckpointMissing},
		{"CheckpointRejectsUnreadable", testCheckpointRejectsUnreadable},
		{"ParkIdempotent", testParkIdempotent},
		{"ParkEnvelopeRoundTrip", testParkEnvelopeRoundTrip},
		{"ParkDefaultsFromChange", testParkDefaultsFromChange},
		{"DLQOrder", testDLQOrder},
		{"ParkedKeysAndUnpark", testParkedKeysAndUnpark},
		{"Statuses", testStatuses},
		{"LeaseExclusive", testLeaseExclusive},
		{"LeaseRenew", testLeaseRenew},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseRelease", testLeaseRelease},
		{"LeaseConcurrent", testLeaseConcurrent},
		{"Reports", testReports},
		{"BasesRoundTrip", testBasesRoundTrip},
		{"TombstonesExpire", testTombstonesExpire},
		{"ConflictLog", testConflictLog},
		{"Intents", testIntents},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			c.fn(t, s)
		})
	}
}

// valueEqual compares change.Values by meaning; their fields are unexported.
var valueEqual = cmp.Comparer(func(a, b change.Value) bool { return change.Equal(a, b) })

func testCheckpointRoundTrip(t *testing.T, s state.Store) {
	ctx := t.Context()
	ts := time.Date(2026, 3, 1, 12, 30, 45, 123456000, time.UTC)
	want := connector.Checkpoint{
		Flow:     "customers",
		Phase:    connector.PhaseBackfill,
		Position: change.Position("0/16B3748"),
		BackfillKey: change.Key{
			change.Int(-9007199254740993), // beyond float64's exact integers
			change.MustDecimal("12.30"),
			change.Text("a|b"),
			change.Timestamp(ts),
			change.UUID("6F9619FF-8B86-D011-B42D-00CF4FC964FF"),
			change.Bytes([]byte{0, 1, 0xff}),
		},
		BackfillRows: 1000,
	}
	mustDo(t, s.SaveCheckpoint(ctx, want))
	got, err := s.Checkpoint(ctx, "customers")
	mustDo(t, err)
	if got == nil {
		t.Fatal("Checkpoint returned nil after SaveCheckpoint")
	}
	if d := cmp.Diff(want, *got, valueEqual); d != "" {
		t.Fatalf("checkpoint differs after round trip (-want +got):\n%s", d)
	}
	// change.Equal compares decimals by value; the scale must survive too.
	for i, v := range got.BackfillKey {
		if w := want.BackfillKey[i]; v.Kind != w.Kind || v.String() != w.String() {
			t.Errorf("BackfillKey[%d] = %v %q, want %v %q", i, v.Kind, v, w.Kind, w)
		}
	}

	want.Phase, want.BackfillKey, want.Position = connector.PhaseStream, nil, change.Position("0/17000A0")
	mustDo(t, s.SaveCheckpoint(ctx, want))
	got, err = s.Checkpoint(ctx, "customers")
	mustDo(t, err)
	if d := cmp.Diff(want, *got, valueEqual); d != "" {
		t.Fatalf("checkpoint not replaced by the second save (-want +got):\n%s", d)
	}
}

func testCheckpointMissing(t *testing.T, s state.Store) {
	got, err := s.Checkpoint(t.Context(), "never-saved")
	mustDo(t, err)
	if got != nil {
		t.Fatalf("Checkpoint of an unknown flow = %+v, want nil", got)
	}
}

func testCheckpointRejectsUnreadable(t *testing.T, s state.Store) {
	// Phase 0 marshals as "phase(0)", which no reader can parse: saving it
	// must fail now rather than break every later read.
	err := s.SaveCheckpoint(t.Context(), connector.Checkpoint{Flow: "f", Position: change.Position("x")})
	if err == nil {
		t.Fatal("SaveCheckpoint with an invalid phase succeeded")
	}
	if got, err := s.Checkpoint(t.Context(), "f"); err != nil || got != nil {
		t.Fatalf("after a rejected save: Checkpoint = %+v, %v; want nil, nil", got, err)
	}
}

func testStatuses(t *testing.T, s state.Store) {
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := state.FlowStatus{Flow: "b", Phase: "backfill", BackfillRows: 10, UpdatedAt: at}
	a := state.FlowStatus{
		Flow: "a", Phase: "stream", Position: "0/1", Applied: 42, LastApplied: at,
		LagSeconds: 1.5, LastError: "boom", UpdatedAt: at, Holder: "host-1:77",
		Extra: map[string]any{"slot": "sb_a", "lag_bytes": float64(1024)},
	}
	mustDo(t, s.SetStatus(ctx, b))
	mustDo(t, s.SetStatus(ctx, a))
	b.Phase, b.BackfillRows = "stream", 20
	mustDo(t, s.SetStatus(ctx, b))

	got, err := s.Statuses(ctx)
	mustDo(t, err)
	if d := cmp.Diff([]state.FlowStatus{a, b}, got); d != "" {
		t.Fatalf("Statuses (-want +got):\n%s", d)
	}

	mustDo(t, s.SetStatus(ctx, state.FlowStatus{Flow: "c", Phase: "stopped"}))
	got, err = s.Statuses(ctx)
	mustDo(t, err)
	if len(got) != 3 || got[2].UpdatedAt.IsZero() {
		t.Fatalf("a status saved without UpdatedAt: got %+v, want UpdatedAt set to now", got)
	}
}

// mustDo stops the test on an unexpected error.
func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
