package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mariaInstallHint is the message of a test that cannot find the server.
const mariaInstallHint = "MariaDB server binaries (mariadbd, mariadb-install-db) not found in PATH or /usr/sbin: " +
	"install mariadb-server: apt-get install -y mariadb-server"

// mariaStalePrefix names the temp dirs of MariaDB servers; sweepStaleMaria
// removes the ones a killed test binary left behind.
const mariaStalePrefix = "syncbridge-mariadb-"

// MariaDBServer is a running throw-away MariaDB server. The superuser is
// "root" with an empty password, and it listens on 127.0.0.1 only. Its
// binary log is on, in ROW format with full row images, and GTIDs are
// written (MariaDB always writes them), so binlog capture works out of the
// box.
type MariaDBServer struct {
	Host    string // always 127.0.0.1
	Port    int
	Version string // e.g. "10.11.19-MariaDB-0+deb12u1"

	inst  *mariaInstall
	root  string   // temp dir holding data/, binlog/, the socket and the log
	extra []string // extra mariadbd options of a private server

	mu   sync.Mutex
	proc *process // nil while stopped

	dbSeq atomic.Int64
}

// mariaBaseOptions are the mariadbd options every server gets after
// --no-defaults (which must come first) and the paths. Durability is relaxed
// for speed (flush at most once a second, no binlog sync); the binlog is in
// ROW format with full images, as binlog capture requires.
var mariaBaseOptions = []string{
	"--bind-address=127.0.0.1",
	"--skip-name-resolve",
	"--binlog-format=ROW",
	"--binlog-row-image=FULL",
	"--server-id=1",
	"--innodb-buffer-pool-size=64M",
	"--innodb-flush-log-at-trx-commit=2",
	"--sync-binlog=0",
	"--max-connections=300",
	"--character-set-server=utf8mb4",
	"--collation-server=utf8mb4_bin",
}

var sharedMaria struct {
	once sync.Once
	srv  *MariaDBServer
	err  error
}

// MariaDB returns the test binary's shared MariaDB server, starting it on
// first use. It is stopped by Run. Tests get a database of their own with
// NewDatabase; they must not change server-wide state they do not restore.
func MariaDB(t testing.TB) *MariaDBServer {
	t.Helper()
	sharedMaria.once.Do(func() {
		sharedMaria.srv, sharedMaria.err = startMariaDB(nil)
		if sharedMaria.err == nil {
			srv := sharedMaria.srv
			atExit(srv.shutdown)
		}
	})
	if sharedMaria.err != nil {
		t.Fatal(sharedMaria.err)
	}
	return sharedMaria.srv
}

// StartMariaDB starts a private server, stopped and removed when the test
// ends. options ("--name=value") are added after the defaults and override
// them. Use it to restart the server, purge its binlog or change global
// settings.
func StartMariaDB(t testing.TB, options ...string) *MariaDBServer {
	t.Helper()
	srv, err := startMariaDB(options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.shutdown)
	return srv
}

// DSN returns a go-sql-driver/mysql DSN for database db (may be empty) as
// root.
func (m *MariaDBServer) DSN(db string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = fmt.Sprintf("%s:%d", m.Host, m.Port)
	cfg.DBName = db
	return cfg.FormatDSN()
}

// NewDatabase creates an empty database for t and returns its DSN. The
// database is dropped when t ends.
func (m *MariaDBServer) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", m.dbSeq.Add(1), dbNameRE.ReplaceAllString(strings.ToLower(t.Name()), "_"))
	if len(name) > 64 {
		name = name[:64]
	}
	m.Exec(t, "", "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	t.Cleanup(func() {
		if m.stopped() {
			return // a private server a test stopped: its files go anyway
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.admin(ctx, "", "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return m.DSN(name)
}

// Exec runs SQL statements as root in database db (empty = none), one
// session, autocommit.
func (m *MariaDBServer) Exec(t testing.TB, db string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := m.admin(ctx, db, stmts...); err != nil {
		t.Fatal(err)
	}
}

func (m *MariaDBServer) admin(ctx context.Context, db string, stmts ...string) error {
	pool, err := sql.Open("mysql", m.DSN(db))
	if err != nil {
		return err
	}
	defer pool.Close()
	c, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// Stop shuts the server down cleanly and keeps its files, so Start brings
// it back on the same port with the same data and binlog.
func (m *MariaDBServer) Stop(t testing.TB) {
	t.Helper()
	if err := m.stop(); err != nil {
		t.Fatal(err)
	}
}

// Start starts a server stopped with Stop.
func (m *MariaDBServer) Start(t testing.TB) {
	t.Helper()
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
}

func (m *MariaDBServer) stopped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc == nil
}

// mariaInstall is the MariaDB server installation found on this machine.
type mariaInstall struct {
	mariadbd, installDB string
	version             string
	user                string // what mariadbd runs as: --user
}

var findMariaOnce struct {
	sync.Once
	inst *mariaInstall
	err  error
}

func findMaria() (*mariaInstall, error) {
	findMariaOnce.Do(func() { findMariaOnce.inst, findMariaOnce.err = locateMaria() })
	return findMariaOnce.inst, findMariaOnce.err
}

func locateMaria() (*mariaInstall, error) {
	look := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"} {
			if p := filepath.Join(dir, name); isFile(p) {
				return p
			}
		}
		return ""
	}
	inst := &mariaInstall{mariadbd: look("mariadbd"), installDB: look("mariadb-install-db")}
	if inst.mariadbd == "" || inst.installDB == "" {
		return nil, errors.New(mariaInstallHint)
	}
	out, err := exec.Command(inst.mariadbd, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %v", inst.mariadbd, err)
	}
	// "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)"
	fields := strings.Fields(string(out))
	for i, f := range fields {
		if f == "Ver" && i+1 < len(fields) {
			inst.version = fields[i+1]
		}
	}
	if inst.version == "" {
		return nil, fmt.Errorf("unexpected mariadbd --version output %q", out)
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	// mariadbd refuses to run as root unless told --user=root.
	inst.user = u.Username
	return inst, nil
}

// template returns a data dir initialised once per machine, version and
// user (mariadb-install-db takes seconds); servers start from a copy of it.
// Concurrent test binaries serialise on a lock file.
func (in *mariaInstall) template() (string, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("syncbridge-mariadbtemplate-%s-u%d", in.version, os.Getuid()))
	ready := filepath.Join(dir, "mysql", "db.frm")
	if isFile(ready) {
		return dir, nil
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if isFile(ready) {
		return dir, nil // made by another binary while we waited
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "syncbridge-mariadbtemplate-tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "data")
	// --no-defaults must be the first argument, or /etc/mysql wins.
	cmd := exec.Command(in.installDB, "--no-defaults", "--datadir="+data, "--user="+in.user,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mariadb-install-db: %v: %s", err, out)
	}
	_ = os.RemoveAll(dir) // a half-made dir from a crash
	if err := os.Rename(data, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// startMariaDB copies the template data dir into a new temp dir and starts
// a server on it.
func startMariaDB(extra []string) (*MariaDBServer, error) {
	inst, err := findMaria()
	if err != nil {
		return nil, err
	}
	tmpl, err := inst.template()
	if err != nil {
		return nil, err
	}
	sweepStaleMaria()
	root, err := os.MkdirTemp("", mariaStalePrefix)
	if err != nil {
		return nil, err
	}
	m := &MariaDBServer{Host: "127.0.0.1", Version: inst.version, inst: inst, root: root, extra: extra}
	if out, err := exec.Command("cp", "-a", tmpl, filepath.Join(root, "data")).CombinedOutput(); err != nil {
		m.remove()
		return nil, fmt.Errorf("copy MariaDB template data dir: %v: %s", err, out)
	}
	if err := os.Mkdir(filepath.Join(root, "binlog"), 0o755); err != nil {
		m.remove()
		return nil, err
	}
	// A port picked free can be taken before the server binds it: try a few.
	for attempt := 0; ; attempt++ {
		if m.Port, err = freePort(); err == nil {
			err = m.start()
		}
		if err == nil {
			return m, nil
		}
		if attempt == 3 || !errors.Is(err, errPortInUse) {
			m.remove()
			return nil, err
		}
	}
}

// start runs mariadbd and waits until it accepts connections.
func (m *MariaDBServer) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		return nil
	}
	logPath := filepath.Join(m.root, "error.log")
	offset := int64(0)
	if st, err := os.Stat(logPath); err == nil {
		offset = st.Size()
	}
	args := []string{
		"--no-defaults", // must be first
		"--user=" + m.inst.user,
		"--datadir=" + filepath.Join(m.root, "data"),
		"--socket=" + filepath.Join(m.root, "mysqld.sock"),
		"--pid-file=" + filepath.Join(m.root, "mysqld.pid"),
		"--log-error=" + logPath,
		"--log-bin=" + filepath.Join(m.root, "binlog", "mariadb-bin"),
		"--port=" + strconv.Itoa(m.Port),
	}
	args = append(append(args, mariaBaseOptions...), m.extra...)
	cmd := exec.Command(m.inst.mariadbd, args...)
	// The server dies with the test binary, even on SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	proc, err := launch(cmd)
	if err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	if err := m.waitReady(proc, logPath, offset); err != nil {
		_ = syscall.Kill(proc.pid, syscall.SIGKILL)
		<-proc.done
		return err
	}
	m.proc = proc
	return nil
}

func (m *MariaDBServer) waitReady(proc *process, logPath string, logOffset int64) error {
	pool, err := sql.Open("mysql", m.DSN("")+"?timeout=5s")
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := proc.waitReady("mariadbd", m.Port, pool.PingContext, logPath, logOffset,
		"Address already in use", "Can't start server: Bind"); err != nil {
		return err
	}
	if m.Version == "" || !strings.Contains(m.Version, "MariaDB") {
		_ = pool.QueryRow("SELECT VERSION()").Scan(&m.Version)
	}
	return nil
}

// stop shuts the server down (SIGTERM: a clean shutdown) and waits.
func (m *MariaDBServer) stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	m.proc = nil
	return p.terminate(syscall.SIGTERM, 60*time.Second, "mariadbd")
}

// shutdown stops the server and removes its files.
func (m *MariaDBServer) shutdown() {
	_ = m.stop()
	m.remove()
}

func (m *MariaDBServer) remove() { _ = os.RemoveAll(m.root) }

// sweepStaleMaria removes server dirs older than an hour whose server is
// gone: what killed test binaries left behind.
func sweepStaleMaria() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), mariaStalePrefix+"*"))
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil || time.Since(st.ModTime()) < time.Hour {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "mysqld.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid > 0 && syscall.Kill(pid, 0) == nil {
				continue // still running
			}
		}
		_ = os.RemoveAll(d)
	}
}
