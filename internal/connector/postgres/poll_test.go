package postgres_test

import (
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// TestPollCapture runs `capture: poll` through the shared poller: rows past
// the lag are read in (updated_at, key) order with exact values, rows inside
// the lag wait.
func TestPollCapture(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(`CREATE TABLE p (id int PRIMARY KEY, amount numeric(12,2), upd timestamptz NOT NULL)`,
		`INSERT INTO p VALUES (1, 1.10, now() - interval '1 hour'), (2, 2.20, now() - interval '1 hour'),
			(3, 3.30, now() - interval '2 hours'), (4, 4.40, now())`)
	src, err := e.store.Source(ctx, connector.SourceSpec{
		Flow: "poll", Table: "p", Capture: connector.CapturePoll,
		Poll: connector.PollSpec{Column: "upd", Lag: 5 * time.Minute, Every: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := src.Stream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := st.Next(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := st.Next(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range append(b.Changes, b2.Changes...) {
		keys = append(keys, c.Key.String())
	}
	if len(keys) != 3 || keys[0] != "3" || keys[1] != "1" || keys[2] != "2" {
		t.Fatalf("polled keys %v, want [3 1 2] (row 4 is inside the lag)", keys)
	}
	if got := b.Changes[0].After["amount"]; !change.Equal(got, change.MustDecimal("3.30")) {
		t.Errorf("amount = %s %q, want decimal 3.30", got.Kind, got)
	}
	if _, err := src.Snapshot(ctx, nil, 10); err != nil {
		t.Errorf("snapshot: %v", err)
	}
	if err := checkCapture(t, e.store, connector.SourceSpec{Flow: "poll", Table: "p", Capture: connector.CapturePoll,
		Poll: connector.PollSpec{Column: "nope"}}); err == nil {
		t.Error("CheckCapture with a missing poll column passed")
	}
}
