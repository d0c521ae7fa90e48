package mysql_test

import (
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

func TestPollCapture(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE pc (id INT PRIMARY KEY, v TEXT, upd DATETIME(6) NOT NULL, KEY (upd, id))")
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: "pc", Table: "pc", Key: []string{"id"},
		Capture: connector.CapturePoll, Poll: connector.PollSpec{Column: "upd", Lag: time.Millisecond, Every: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	from := mustPosition(ctx, t, src)
	// Equal timestamps across a page boundary must be neither skipped nor repeated.
	e.exec("INSERT INTO pc VALUES (1, 'a', UTC_TIMESTAMP(6) - INTERVAL 1 SECOND), (2, 'b', UTC_TIMESTAMP(6) - INTERVAL 1 SECOND), " +
		"(3, 'c', UTC_TIMESTAMP(6) - INTERVAL 1 SECOND)")
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []int64
	var pos change.Position
	for len(got) < 3 {
		b, err := st.Next(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b.Changes {
			got = append(got, c.Key[0].AsInt())
			if c.After["upd"].Kind != change.KindTimestamp {
				t.Errorf("upd decoded as %s", c.After["upd"].Kind)
			}
		}
		pos = b.Position
	}
	if len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("polled %v, want [1 2 3]", got)
	}
	e.exec("UPDATE pc SET v = 'b2', upd = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE id = 2")
	st2, err := src.Stream(ctx, pos)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	for {
		b, err := st2.Next(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Changes) > 0 {
			if len(b.Changes) != 1 || b.Changes[0].Key[0].AsInt() != 2 || b.Changes[0].After["v"].String() != "b2" {
				t.Fatalf("after resume: %+v, want the update of 2", b.Changes)
			}
			break
		}
	}
}
