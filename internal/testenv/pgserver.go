package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// stalePrefix names the temp dirs of clusters; sweepStale removes the ones a
// killed test binary left behind.
const stalePrefix = "syncbridge-pg-"

// errPortInUse is returned by start when the server could not bind its port.
var errPortInUse = errors.New("port in use")

// install is one PostgreSQL server installation.
type install struct {
	bin     string // directory holding initdb and postgres
	version string // full version, e.g. "15.14"
	major   int
	cred    *syscall.Credential // the user servers run as; nil = this process's user
	uid     int
}

var findOnce struct {
	sync.Once
	inst *install
	err  error
}

// findInstall picks the newest /usr/lib/postgresql/*/bin holding initdb and
// postgres (SYNCBRIDGE_PG_BIN overrides the search).
func findInstall() (*install, error) {
	findOnce.Do(func() { findOnce.inst, findOnce.err = locateInstall() })
	return findOnce.inst, findOnce.err
}

func locateInstall() (*install, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if env := os.Getenv("SYNCBRIDGE_PG_BIN"); env != "" {
		bins = []string{env}
	}
	type cand struct {
		dir   string
		major int
	}
	var cands []cand
	for _, b := range bins {
		if !isFile(filepath.Join(b, "postgres")) || !isFile(filepath.Join(b, "initdb")) {
			continue
		}
		major, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		cands = append(cands, cand{b, major})
	}
	if len(cands) == 0 {
		return nil, errors.New(pgInstallHint)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].major > cands[j].major })
	inst := &install{bin: cands[0].dir, uid: os.Getuid()}
	out, err := exec.Command(filepath.Join(inst.bin, "postgres"), "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %v", filepath.Join(inst.bin, "postgres"), err)
	}
	// "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return nil, fmt.Errorf("unexpected postgres --version output %q", out)
	}
	inst.version = fields[2]
	inst.major, _ = strconv.Atoi(strings.SplitN(inst.version, ".", 2)[0])
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("tests run as root but there is no `postgres` user to run the " +
				"PostgreSQL server as: install the server package (`apt-get install -y postgresql` creates it)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		inst.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		inst.uid = uid
	}
	return inst, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// chown gives path to the user the server runs as.
func (in *install) chown(path string) error {
	if in.cred == nil {
		return nil
	}
	return os.Chown(path, int(in.cred.Uid), int(in.cred.Gid))
}

func (in *install) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(in.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: in.cred}
	return cmd
}

// template returns a data dir initialised once per machine, version and
// user; clusters start from a copy of it, which is about a second faster
// than initdb. Concurrent test binaries serialise on a lock file.
func (in *install) template() (string, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("syncbridge-pgtemplate-%s-u%d", in.version, in.uid))
	if isFile(filepath.Join(dir, "PG_VERSION")) {
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
	if isFile(filepath.Join(dir, "PG_VERSION")) {
		return dir, nil // made by another binary while we waited
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "syncbridge-pgtemplate-tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := in.chown(tmp); err != nil {
		return "", err
	}
	data := filepath.Join(tmp, "data")
	cmd := in.command("initdb", "-D", data, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	_ = os.RemoveAll(dir) // a half-made dir from a crash
	if err := os.Rename(data, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// process is a running test server (postgres or mariadbd).
type process struct {
	done chan struct{} // closed when the server has exited
	err  error         // its exit status, set before done closes
	pid  int
}

// start runs the server on pg.root/data and waits until it accepts
// connections.
func (pg *PG) start() error {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.proc != nil {
		return nil
	}
	args := []string{"-D", filepath.Join(pg.root, "data"), "-p", strconv.Itoa(pg.Port), "-k", pg.root}
	for _, s := range append(append([]string(nil), baseSettings...), pg.settings...) {
		args = append(args, "-c", s)
	}
	logPath := filepath.Join(pg.root, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, 2)
	cmd := pg.inst.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test binary, even on SIGKILL.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	proc, err := launch(cmd)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if err := pg.waitReady(proc, logPath, offset); err != nil {
		_ = syscall.Kill(proc.pid, syscall.SIGQUIT)
		<-proc.done
		return err
	}
	pg.proc = proc
	return nil
}

// launch starts cmd from a goroutine locked to its OS thread that lives
// until the child exits: the parent-death signal fires when the thread that
// started the child exits, and Go may otherwise retire that thread early.
func launch(cmd *exec.Cmd) (*process, error) {
	p := &process{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			runtime.UnlockOSThread()
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
		// Returning while locked ends the thread, which is what we want.
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (pg *PG) waitReady(proc *process, logPath string, logOffset int64) error {
	dsn := pg.DSN("postgres") + "&connect_timeout=5"
	probe := func(ctx context.Context) error {
		c, err := pgconn.Connect(ctx, dsn)
		if err == nil {
			_ = c.Close(context.Background())
		}
		return err
	}
	return proc.waitReady("postgres", pg.Port, probe, logPath, logOffset, "could not bind", "Address already in use")
}

// waitReady polls probe until the server answers, for up to a minute. A
// server that exits first fails with its log, or with errPortInUse when the
// log shows one of bindMarkers (another process took the port).
func (p *process) waitReady(name string, port int, probe func(context.Context) error, logPath string, logOffset int64, bindMarkers ...string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := probe(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			log := readFrom(logPath, logOffset)
			for _, m := range bindMarkers {
				if strings.Contains(log, m) {
					return fmt.Errorf("%s on port %d: %w", name, port, errPortInUse)
				}
			}
			return fmt.Errorf("%s exited at start (%v); its log:\n%s", name, p.err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after 60s; its log:\n%s", name, readFrom(logPath, logOffset))
		}
	}
}

func readFrom(path string, offset int64) string {
	b, _ := os.ReadFile(path)
	if int64(len(b)) > offset {
		b = b[offset:]
	}
	return string(bytes.TrimSpace(b))
}

// stop shuts the server down in fast mode and waits for it to exit.
func (pg *PG) stop() error {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	p := pg.proc
	pg.proc = nil
	return p.terminate(syscall.SIGINT, 30*time.Second, "postgres")
}

// terminate sends sig (the server's clean-shutdown signal), waits up to
// grace for the process to exit, and kills it after that. A nil process is
// already stopped.
func (p *process) terminate(sig syscall.Signal, grace time.Duration, name string) error {
	if p == nil {
		return nil
	}
	_ = syscall.Kill(p.pid, sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s (pid %d) did not stop within %v: killed", name, p.pid, grace)
}

// sweepStale removes cluster dirs older than an hour whose server is gone:
// what killed test binaries left behind.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), stalePrefix+"*"))
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil || time.Since(st.ModTime()) < time.Hour {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
			if pid > 0 && syscall.Kill(pid, 0) == nil {
				continue // still running
			}
		}
		_ = os.RemoveAll(d)
	}
}
