package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

func checkCapture(t testing.TB, st connector.Store, spec connector.SourceSpec) error {
	t.Helper()
	return st.(connector.CaptureChecker).CheckCapture(context.Background(), spec)
}

func wantProblems(t testing.TB, err error, fixes ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("CheckCapture passed, want problems with fixes %q", fixes)
	}
	for _, f := range fixes {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("CheckCapture error lacks %q:\n%v", f, err)
		}
	}
}

// TestCheckCaptureWalLevelReplica checks the messages on a server without
// logical decoding, for a table without a primary key, and that checking
// writes nothing.
func TestCheckCaptureWalLevelReplica(t *testing.T) {
	pg := testenv.StartPostgres(t, "wal_level=replica")
	e := openEnv(t, pg.NewDatabase(t))
	e.exec("CREATE TABLE nokey (a int, b text)", "CREATE TABLE ok (id int PRIMARY KEY)")
	err := checkCapture(t, e.store, connector.SourceSpec{Flow: "f", Table: "nokey", Key: []string{"a"}})
	wantProblems(t, err,
		`wal_level is "replica"`,
		"ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL",
		"ALTER TABLE \"public\".\"nokey\" REPLICA IDENTITY FULL;")
	t.Logf("messages:\n%v", err)

	err = checkCapture(t, e.store, connector.SourceSpec{Flow: "f", Table: "missing"})
	if !errors.Is(err, connector.ErrTableNotFound) {
		t.Errorf("missing table: %v, want ErrTableNotFound", err)
	}
	var n int
	c, err := pgxConnect(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := c.QueryRow(context.Background(),
		"SELECT (SELECT count(*) FROM pg_publication) + (SELECT count(*) FROM pg_replication_slots)").Scan(&n); err != nil || n != 0 {
		t.Errorf("CheckCapture created %d publications or slots (%v)", n, err)
	}
}

// TestCheckCapturePrivileges checks the messages for a role without the
// REPLICATION attribute that neither owns nor can read the table, on a
// private cluster (roles are cluster-wide).
func TestCheckCapturePrivileges(t *testing.T) {
	pg := testenv.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	admin := openEnv(t, dsn)
	admin.exec("CREATE ROLE app LOGIN", "CREATE TABLE t (id int PRIMARY KEY)",
		"CREATE TABLE k (id int PRIMARY KEY, code text UNIQUE)")
	st, err := postgres.Driver{}.Open(context.Background(), connector.StoreConfig{
		Name: "app", DSN: strings.Replace(dsn, "postgres@", "app@", 1), Capture: connector.CaptureLogical,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = checkCapture(t, st, connector.SourceSpec{Flow: "f", Table: "t"})
	wantProblems(t, err,
		`ALTER ROLE "app" WITH REPLICATION;`,
		`GRANT SELECT ON "public"."t" TO "app";`,
		`CREATE PUBLICATION "syncbridge_f" FOR TABLE "public"."t";`)
	t.Logf("messages:\n%v", err)

	// A flow key other than the primary key needs REPLICA IDENTITY FULL.
	wantProblems(t, checkCapture(t, admin.store, connector.SourceSpec{Flow: "f", Table: "k", Key: []string{"code"}}),
		`ALTER TABLE "public"."k" REPLICA IDENTITY FULL;`)

	// All well for the superuser on the logical cluster.
	if err := checkCapture(t, admin.store, connector.SourceSpec{Flow: "f", Table: "t"}); err != nil {
		t.Errorf("CheckCapture on a ready store: %v", err)
	}
}
