package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgInstallHint is the message of a test that cannot find the server.
const pgInstallHint = "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: " +
	"install them with `apt-get install -y postgresql`"

// PG is a running throw-away PostgreSQL cluster. The superuser is
// "postgres", authentication is trust, and it listens on 127.0.0.1 only.
type PG struct {
	Host string // always 127.0.0.1
	Port int
	// Major is the server's major version, e.g. 15.
	Major int

	inst     *install
	root     string // temp dir holding data/, the socket and the log
	settings []string

	mu   sync.Mutex
	proc *process // nil while stopped

	dbSeq atomic.Int64
}

// baseSettings are the server settings every cluster gets. fsync and
// full_page_writes are off for speed; synchronous_commit stays on, because
// with it off logical decoding lags by wal_writer_delay and tests flake.
var baseSettings = []string{
	"listen_addresses=127.0.0.1",
	"wal_level=logical",
	"max_wal_senders=20",
	"max_replication_slots=20",
	"max_connections=150",
	"fsync=off",
	"full_page_writes=off",
	"synchronous_commit=on",
	"log_min_messages=warning",
}

var shared struct {
	once sync.Once
	pg   *PG
	err  error
}

// Postgres returns the test binary's shared cluster, starting it on first
// use. It is stopped by Run. Tests get a database of their own with
// NewDatabase; they must not change cluster-wide state they do not restore.
func Postgres(t testing.TB) *PG {
	t.Helper()
	shared.once.Do(func() {
		shared.pg, shared.err = startPostgres(nil)
		if shared.err == nil {
			pg := shared.pg
			atExit(func() { pg.shutdown() })
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.pg
}

// StartPostgres starts a private cluster, stopped and removed when the test
// ends. settings ("name=value") are added to, or override, the defaults
// (wal_level=logical, 20 WAL senders and slots, fsync off).
func StartPostgres(t testing.TB, settings ...string) *PG {
	t.Helper()
	pg, err := startPostgres(settings)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.shutdown)
	return pg
}

// DSN returns a connection string for database db as the superuser.
func (pg *PG) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// NewDatabase creates an empty database for t and returns its DSN. When t
// ends the database is dropped, after its sessions are terminated and its
// replication slots dropped.
func (pg *PG) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", pg.dbSeq.Add(1), dbNameRE.ReplaceAllString(strings.ToLower(t.Name()), "_"))
	if len(name) > 63 {
		name = name[:63]
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pg.admin(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		return err
	}); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pg.dropDatabase(ctx, name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return pg.DSN(name)
}

var dbNameRE = regexp.MustCompile(`[^a-z0-9_]+`)

// dropDatabase drops name with everything that would block it: sessions
// (walsenders included) and replication slots.
func (pg *PG) dropDatabase(ctx context.Context, name string) error {
	if pg.stopped() {
		return nil // a private cluster a test stopped: its files go anyway
	}
	return pg.admin(ctx, func(c *pgx.Conn) error {
		for attempt := 0; ; attempt++ {
			_, err := c.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
			if err == nil {
				_, err = c.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
					WHERE database = $1`, name)
			}
			if err == nil {
				_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
			}
			// A terminated walsender releases its slot a moment later.
			if err == nil || attempt == 50 {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// admin runs f on a fresh superuser connection to the postgres database.
func (pg *PG) admin(ctx context.Context, f func(*pgx.Conn) error) error {
	c, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return f(c)
}

// Stop shuts the cluster down (fast mode: sessions are disconnected) and
// keeps its files, so Start brings it back on the same port with the same
// data. Use it on private clusters to test server restarts.
func (pg *PG) Stop(t testing.TB) {
	t.Helper()
	if err := pg.stop(); err != nil {
		t.Fatal(err)
	}
}

// Start starts a cluster stopped with Stop.
func (pg *PG) Start(t testing.TB) {
	t.Helper()
	if err := pg.start(); err != nil {
		t.Fatal(err)
	}
}

// Exec runs SQL statements as the superuser in database db.
func (pg *PG) Exec(t testing.TB, db string, sql ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, s := range sql {
		if _, err := c.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func (pg *PG) stopped() bool {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return pg.proc == nil
}

// startPostgres copies a freshly initialised data dir into a new temp dir
// and starts a server on it.
func startPostgres(settings []string) (*PG, error) {
	inst, err := findInstall()
	if err != nil {
		return nil, err
	}
	tmpl, err := inst.template()
	if err != nil {
		return nil, err
	}
	sweepStale()
	root, err := os.MkdirTemp("", stalePrefix)
	if err != nil {
		return nil, err
	}
	pg := &PG{Host: "127.0.0.1", Major: inst.major, inst: inst, root: root, settings: settings}
	if err := inst.chown(root); err != nil {
		pg.remove()
		return nil, err
	}
	if out, err := exec.Command("cp", "-a", tmpl, filepath.Join(root, "data")).CombinedOutput(); err != nil {
		pg.remove()
		return nil, fmt.Errorf("copy PostgreSQL template data dir: %v: %s", err, out)
	}
	// A port picked free can be taken before the server binds it (other test
	// binaries do the same): try a few.
	for attempt := 0; ; attempt++ {
		if pg.Port, err = freePort(); err == nil {
			err = pg.start()
		}
		if err == nil {
			return pg, nil
		}
		if attempt == 3 || !errors.Is(err, errPortInUse) {
			pg.remove()
			return nil, err
		}
	}
}

// shutdown stops the server and removes its files.
func (pg *PG) shutdown() {
	_ = pg.stop()
	pg.remove()
}

func (pg *PG) remove() { _ = os.RemoveAll(pg.root) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
