package testenv_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func TestPostgresNewDatabase(t *testing.T) {
	pg := testenv.Postgres(t)
	dsn := pg.NewDatabase(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var walLevel string
	if err := c.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil {
		t.Fatal(err)
	}
	if walLevel != "logical" {
		t.Fatalf("wal_level = %q, want logical", walLevel)
	}
	// A slot and an open session must not block the drop in Cleanup.
	if _, err := c.Exec(ctx, "SELECT pg_create_logical_replication_slot('s_drop_me', 'pgoutput')"); err != nil {
		t.Fatal(err)
	}
}

func TestStartPostgresSettingsAndRestart(t *testing.T) {
	pg := testenv.StartPostgres(t, "wal_level=replica")
	dsn := pg.NewDatabase(t)
	ctx := context.Background()
	show := func() string {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var v string
		if err := c.QueryRow(ctx, "SHOW wal_level").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := show(); got != "replica" {
		t.Fatalf("wal_level = %q, want replica", got)
	}
	pg.Stop(t)
	if _, err := pgx.Connect(ctx, dsn); err == nil {
		t.Fatal("connected to a stopped cluster")
	}
	pg.Start(t)
	if got := show(); got != "replica" {
		t.Fatalf("after restart wal_level = %q", got)
	}
}
