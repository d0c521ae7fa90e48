package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
)

// TestSlotLagAndDropCapture checks the lag of an unconsumed slot and that
// dropping a removed flow's capture takes the slot and publication away.
func TestSlotLagAndDropCapture(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
	src, from := logicalSource(ctx, t, e, "gone", "t")
	st := e.store.(*postgres.Store)
	e.exec("INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g")
	lag, err := st.SlotLag(ctx, "gone")
	if err != nil || lag < 100_000 {
		t.Errorf("slot lag = %d, %v; want the inserted WAL (> 100 kB)", lag, err)
	}
	if n, err := st.CountRows(ctx, "t"); err != nil || n != 1000 {
		t.Errorf("CountRows = %d, %v; want 1000 (counted: never analyzed)", n, err)
	}
	if err := st.DropCapture(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := st.DropCapture(ctx, "gone"); err != nil {
		t.Errorf("second DropCapture: %v", err)
	}
	if _, err := src.Stream(ctx, from); !errors.Is(err, connector.ErrPositionLost) {
		t.Errorf("stream after DropCapture: %v, want ErrPositionLost", err)
	}
	c, err := pgxConnect(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var pubs int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_publication").Scan(&pubs); err != nil || pubs != 0 {
		t.Errorf("publications left: %d, %v", pubs, err)
	}
}
