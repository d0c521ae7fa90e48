package statetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/state"
)

func testReports(t *testing.T, s state.Store) {
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	first := state.Report{Flow: "a", StartedAt: at, Duration: 1500 * time.Millisecond, InSync: false,
		Missing: 1, Extra: 2, Different: 3, Moving: 4, Repaired: 6, Detail: json.RawMessage(`{"name":"a"}`)}
	mustDo(t, s.SaveReport(ctx, first))
	mustDo(t, s.SaveReport(ctx, state.Report{Flow: "b", StartedAt: at, InSync: true}))
	mustDo(t, s.SaveReport(ctx, state.Report{Flow: "a", StartedAt: at.Add(time.Hour), InSync: true}))

	got, err := s.Reports(ctx, "a", 10)
	mustDo(t, err)
	if len(got) != 2 || !got[0].InSync || got[1].InSync {
		t.Fatalf("Reports(a) = %+v, want the two reports of a, newest first", got)
	}
	old := got[1]
	if old.ID == 0 || old.Missing != 1 || old.Extra != 2 || old.Different != 3 || old.Moving != 4 ||
		old.Repaired != 6 || old.Duration != first.Duration || !old.StartedAt.Equal(at) || string(old.Detail) != `{"name":"a"}` {
		t.Fatalf("report did not round-trip: got %+v, want %+v", old, first)
	}
	got, err = s.Reports(ctx, "", 1)
	mustDo(t, err)
	if len(got) != 1 || got[0].Flow != "a" || !got[0].InSync {
		t.Fatalf("Reports(\"\", 1) = %+v, want the newest report of any flow", got)
	}
	if err := s.SaveReport(ctx, state.Report{}); err == nil {
		t.Fatal("SaveReport without a flow succeeded")
	}
}
