package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/engine/bothtest"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// newBothCLIEnv is a both-way flow between two SQLite files with the
// bothtest tables, under the given conflict setting.
func newBothCLIEnv(t *testing.T, conflict string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, cfgPath: filepath.Join(dir, "syncbridge.yaml")}
	e.legacy = openDB(t, filepath.Join(dir, "legacy.db"))
	e.platform = openDB(t, filepath.Join(dir, "platform.db"))
	e.exec(e.legacy, bothtest.SQLiteLegacySchema)
	e.exec(e.platform, bothtest.SQLitePlatformSchema)
	e.writeConfig(`
state: ./state.db
http: {listen: "off"}
stores:
  legacy:   {driver: sqlite, dsn: ./legacy.db, capture: trigger}
  platform: {driver: sqlite, dsn: ./platform.db, capture: trigger}
flows:` + fmt.Sprintf(bothtest.FlowSQLiteLegacy, conflict))
	return e
}

// TestConflictsCLI: a manual conflict is listed as parked (exit 1), resolved
// by taking one side, and then listed as resolved (exit 0); bad requests are
// usage errors.
func TestConflictsCLI(t *testing.T) {
	e := newBothCLIEnv(t, `{policy: manual}`)
	legacy, platform := bothtest.SQLiteLegacy(e.legacy), bothtest.SQLitePlatform(e.platform)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := legacy.Upsert(1, "ann", at); err != nil {
		t.Fatal(err)
	}
	e.mustRun("run", "--once")
	if err := legacy.Upsert(1, "fromlegacy", at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := platform.Upsert(1, "fromplatform", at.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	e.mustRun("run", "--once")

	code, out := e.run("conflicts", "list", "--format", "json")
	if code != ExitFailed {
		t.Fatalf("conflicts list with a parked conflict: exit %d, want 1\n%s", code, out)
	}
	var listed struct {
		Conflicts []state.Conflict `json:"conflicts"`
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &listed); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(listed.Conflicts) != 1 || listed.Conflicts[0].Status != "parked" || listed.Conflicts[0].Key != "1" {
		t.Fatalf("listed %+v", listed.Conflicts)
	}
	seq := strconv.FormatInt(listed.Conflicts[0].Seq, 10)

	for _, bad := range [][]string{
		{"conflicts", "resolve", "--flow", "customers", "--seq", seq},
		{"conflicts", "resolve", "--flow", "customers", "--seq", seq, "--take", "both"},
		{"conflicts", "resolve", "--flow", "customers", "--seq", seq, "--take", "merged"},
		{"conflicts", "resolve", "--flow", "customers", "--seq", "999", "--take", "to"},
		{"conflicts", "resolve", "--flow", "customers", "--seq", seq, "--take", "merged", "--merged-json", `{"nope": 1}`},
	} {
		if code, out := e.run(bad...); code != ExitUsage {
			t.Errorf("%v: exit %d, want 2\n%s", bad, code, out)
		}
	}
	out = e.mustRun("conflicts", "resolve", "--flow", "customers", "--seq", seq, "--take", "to")
	if !strings.Contains(out, "resolved: operator took to") {
		t.Fatalf("resolve said:\n%s", out)
	}
	a, _ := legacy.Dump()
	b, _ := platform.Dump()
	if a[1] != b[1] || !strings.HasPrefix(a[1], "fromplatform V") {
		t.Fatalf("after resolve: legacy %q, platform %q; want the platform's row on both", a[1], b[1])
	}
	out = e.mustRun("conflicts", "list")
	if !strings.Contains(out, "resolved") || !strings.Contains(out, "operator took to") {
		t.Fatalf("conflicts list after resolve:\n%s", out)
	}
}

// TestBothKill9 kills a running syncbridge at random instants while
// writers on both sides of a both-way flow keep changing overlapping rows,
// restarts it, and checks that after the writers stop both sides hold the
// same rows, each the latest write made to its key (lww), and that nothing
// keeps being applied afterwards. Half the kills land, through run --fault,
// inside a both-way transaction that writes a conflict's winner back (after
// its intent is saved, after the target committed, after the write-back
// committed); the restart finishes or drops it. SYNCBRIDGE_CRASH_CYCLES
// raises the number of kills (default 10).
func TestBothKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash cycles take seconds")
	}
	e := newBothCLIEnv(t, `{policy: lww, timestamp: updated_at}`)
	bothKill9(t, e, [2]*bothtest.Side{
		bothtest.SQLiteLegacy(openDB(t, filepath.Join(e.dir, "legacy.db"))),
		bothtest.SQLitePlatform(openDB(t, filepath.Join(e.dir, "platform.db"))),
	})
}

// TestBothKill9Postgres is TestBothKill9 with a PostgreSQL legacy table
// (logical capture, replication origins) and a SQLite platform table.
func TestBothKill9Postgres(t *testing.T) {
	if testing.Short() {
		t.Skip("crash cycles take seconds")
	}
	dsn := testenv.Postgres(t).NewDatabase(t)
	legacy := openPG(t, dsn)
	if _, err := legacy.Exec(bothtest.PGLegacySchema); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &env{t: t, dir: dir, cfgPath: filepath.Join(dir, "syncbridge.yaml")}
	e.platform = openDB(t, filepath.Join(dir, "platform.db"))
	e.exec(e.platform, bothtest.SQLitePlatformSchema)
	e.writeConfig(fmt.Sprintf(`
state: ./state.db
http: {listen: "off"}
stores:
  legacy:   {driver: postgres, dsn: "%s", capture: logical}
  platform: {driver: sqlite, dsn: ./platform.db, capture: trigger}
flows:`+bothtest.FlowPGLegacy, dsn, `{policy: lww, timestamp: updated_at}`))
	bothKill9(t, e, [2]*bothtest.Side{bothtest.PGLegacy(legacy), bothtest.SQLitePlatform(openDB(t, filepath.Join(dir, "platform.db")))})
}

// bothKill9 runs the kill cycles of TestBothKill9 on e with the writers of
// sides.
func bothKill9(t *testing.T, e *env, sides [2]*bothtest.Side) {
	cycles := 10
	if s := os.Getenv("SYNCBRIDGE_CRASH_CYCLES"); s != "" {
		cycles, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	e.mustRun("run", "--once")

	const keys = 25
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var mu sync.Mutex
	var ledger bothtest.Ledger
	var wg sync.WaitGroup
	for i, s := range sides {
		wg.Go(func() {
			out, err := bothtest.Write(ctx, s, keys, 100, seed+uint64(i))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			ledger = append(ledger, out...)
			mu.Unlock()
		})
	}
	finished := regexp.MustCompile(`recorded a both-way transaction left by an earlier run.* write_backs=(\d+)`)
	dropped := regexp.MustCompile(`dropped the intent of a both-way transaction`)
	recovered, withBacks, discarded := 0, 0, 0
	// Every other cycle the process kills itself at one of the points of a
	// both-way transaction that writes a conflict's winner back (run
	// --fault); the others are killed from outside at a random instant.
	points := []string{engine.FaultAfterIntent, engine.FaultAfterTargetCommit, engine.FaultAfterWriteBack}
	faults := 0
	c := 0
	for ; c < cycles; c++ {
		args := []string{"run", "--no-progress"}
		if c%2 == 0 {
			args = append(args, "--fault", points[(c/2)%len(points)])
		}
		cmd, out := e.process(args...)
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		// A fault cycle waits for the process to reach its fault point
		// (on a loaded machine that can take seconds); the others are
		// killed at a random instant.
		wait := time.Duration(300+rng.IntN(900)) * time.Millisecond * 4
		if c%2 == 0 {
			wait = 20 * time.Second
		}
		select {
		case <-exited:
			faults++
		case <-time.After(wait):
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
		text := out.String()
		if strings.Contains(text, "panic") {
			t.Fatalf("cycle %d: panic\n%s", c, text)
		}
		for _, m := range finished.FindAllStringSubmatch(text, -1) {
			recovered++
			if m[1] != "0" {
				withBacks++
			}
		}
		discarded += len(dropped.FindAllString(text, -1))
	}
	stop()
	wg.Wait()
	// Drain; the first run also finishes what the last kill interrupted.
	out := e.mustRun("run", "--once", "--no-progress")
	if finished.MatchString(out) {
		recovered++
	}
	e.mustRun("run", "--once", "--no-progress")
	before := appliedTotal(t, e)
	e.mustRun("run", "--once", "--no-progress")
	if after := appliedTotal(t, e); after != before {
		t.Errorf("a run with no writes applied %d changes: an echo loop", after-before)
	}
	diverged, wrong, err := ledger.Check(sides[0], sides[1], keys, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills (%d at a fault point), %d writes; on restart %d interrupted both-way transactions were finished (%d with write-backs), %d never committed",
		c, faults, len(ledger), recovered, withBacks, discarded)
	if withBacks == 0 || discarded == 0 {
		t.Errorf("the kills did not exercise recovery: %d finished with write-backs, %d dropped", withBacks, discarded)
	}
	if len(diverged) > 0 {
		t.Errorf("%d keys diverged:\n  %s", len(diverged), strings.Join(diverged, "\n  "))
	}
	if len(wrong) > 0 {
		t.Errorf("%d keys do not hold their latest write:\n  %s", len(wrong), strings.Join(wrong, "\n  "))
	}
}

// appliedTotal sums the applied counts of every flow in `status`.
func appliedTotal(t *testing.T, e *env) int64 {
	t.Helper()
	out := e.mustRun("status", "--format", "json")
	var st struct {
		Flows []struct {
			Applied int64 `json:"applied"`
		} `json:"flows"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var n int64
	for _, f := range st.Flows {
		n += f.Applied
	}
	return n
}
