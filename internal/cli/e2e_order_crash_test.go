package cli

import (
	"fmt"
	mrand "math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestOrderedKill9Cycles kills syncbridge with SIGKILL at random instants
// while it backfills and streams the three flows of
// TestOrderedStreamingUnderWriters (customers → orders → order items, tied by
// after:) into a PostgreSQL target with foreign keys, and a writer keeps
// committing parents with their children and cascading deletes in single
// source transactions. Batches are small, so foreign key refusals, prefix
// commits at the current checkpoint and waits happen often, and a kill lands
// between them. Every restart resumes from the checkpoints; once the writer
// stops, a final run converges: the target equals the source, and nothing was
// parked. SYNCBRIDGE_ORDER_CRASH_CYCLES sets the count (default 6);
// SYNCBRIDGE_ORDER_CRASH_LOGS names a directory to keep each process's log in.
func TestOrderedKill9Cycles(t *testing.T) {
	for _, src := range []string{"postgres", "mariadb"} {
		t.Run(src, func(t *testing.T) { orderedKill9(t, src) })
	}
}

func orderedKill9(t *testing.T, srcDriver string) {
	cycles, rng := crashPlan(t, "SYNCBRIDGE_ORDER_CRASH_CYCLES", 6)
	began := time.Now()
	driver := map[string]string{"postgres": "postgres", "mariadb": "mysql"}[srcDriver]
	// Small batches: commits (and so prefix commits before a refused
	// transaction) are frequent, and the backfill spans several cycles.
	e, src, dst := newShop(t, driver, [3]int{7, 5, 6}, "5ms")
	w := &shopWriter{e: e, db: src, rnd: mrand.New(mrand.NewSource(rng.Int64()))}
	for range 250 { // about 1,500 rows to backfill
		w.newCustomer()
	}

	var mu sync.Mutex // held by the writer while it writes
	stopWriter := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopWriter:
				return
			default:
			}
			func() { // a failed write ends the goroutine (t.Fatalf): unlock anyway
				mu.Lock()
				defer mu.Unlock()
				w.step()
			}()
			time.Sleep(3 * time.Millisecond)
		}
	}()
	defer func() { // a failure before the writer stops
		select {
		case <-stopWriter:
		default:
			close(stopWriter)
			wg.Wait()
		}
	}()

	var all strings.Builder // every process's output
	backfillKills := 0
	for c := 0; c < cycles; c++ {
		// The first kills come early, while the backfill runs; the rest
		// while streaming.
		d := time.Duration(1000+rng.IntN(2500)) * time.Millisecond
		if c < max(1, cycles/5) {
			d = time.Duration(250+rng.IntN(800)) * time.Millisecond
		}
		cmd, out := e.process("run", "--no-progress")
		time.Sleep(d)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		logs := out.String()
		all.WriteString(logs)
		if dir := os.Getenv("SYNCBRIDGE_ORDER_CRASH_LOGS"); dir != "" { // for a post-mortem
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-cycle%02d.log", srcDriver, c)), []byte(logs), 0o644)
		}
		if strings.Contains(logs, "panic") {
			t.Fatalf("cycle %d: panic\n%s", c, logs)
		}
		phase := "stream"
		for _, f := range []string{"customers", "orders", "items"} {
			if !strings.Contains(all.String(), `msg="backfill done" flow=`+f+" ") {
				phase = "backfill"
			}
		}
		if phase == "backfill" {
			backfillKills++
		}
		mu.Lock()
		txs := w.txs
		mu.Unlock()
		t.Logf("cycle %d: killed after %v during %s; %d refusals waited out, %d parked; writer at %d transactions",
			c, d, phase, strings.Count(logs, "foreign key refused a change"), strings.Count(logs, "change parked"), txs)
	}
	close(stopWriter)
	wg.Wait()
	t.Logf("writer: %d transactions (%d new customers, %d deletes); %d kills during a backfill", w.txs, w.created, w.deleted, backfillKills)

	// The final run: everything the writer committed, in order.
	code, final := e.run("run", "--once", "--no-progress")
	all.WriteString(final)
	if dir := os.Getenv("SYNCBRIDGE_ORDER_CRASH_LOGS"); dir != "" {
		os.WriteFile(filepath.Join(dir, srcDriver+"-final.log"), []byte(final), 0o644)
	}
	logs := all.String()
	if code != 0 {
		t.Fatalf("final run: exit %d\n%s", code, ocTail(final, 8000))
	}
	if got, want := shopContent(t, dst), shopContent(t, src); got != want {
		_, st := e.run("status")
		t.Fatalf("the target does not equal the source after the final run:\n%s\n%s\nfinal run:\n%s",
			ocDiff(want, got, 40), st, ocTail(final, 8000))
	}
	t.Logf("foreign key refusals waited out: %d (final run %d); parked: %d; %v",
		strings.Count(logs, "foreign key refused a change"), strings.Count(final, "foreign key refused a change"),
		strings.Count(logs, "change parked"), time.Since(began).Round(time.Second))

	if n, js := parkedCount(e); n > 0 {
		t.Fatalf("%d changes were parked:\n%s\n%s", n, js, ocParked(logs))
	}
	if w.created == 0 || w.deleted == 0 {
		t.Fatalf("the writer did not exercise both orders (created %d, deleted %d)", w.created, w.deleted)
	}
}

func ocTail(s string, n int) string { return s[max(0, len(s)-n):] }

// ocDiff lists up to n lines present in only one of want and got.
func ocDiff(want, got string, n int) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		section := 0
		for _, l := range strings.Split(s, "\n") {
			if l == "--" {
				section++
			}
			m[fmt.Sprintf("%d: %s", section, l)]++
		}
		return m
	}
	w, g := count(want), count(got)
	var b strings.Builder
	k := 0
	for l, c := range w {
		if g[l] < c && k < n {
			fmt.Fprintf(&b, "source only: %s\n", l)
			k++
		}
	}
	for l, c := range g {
		if w[l] < c && k < n {
			fmt.Fprintf(&b, "target only: %s\n", l)
			k++
		}
	}
	return b.String()
}

// ocParked returns the log lines about parking and giving up.
func ocParked(logs string) string {
	var b strings.Builder
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "park") || strings.Contains(l, "again after") || strings.Contains(l, "wait for each other") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return ocTail(b.String(), 8000)
}
