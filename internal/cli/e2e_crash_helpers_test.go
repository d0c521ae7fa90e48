package cli

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashPlan reads a crash test's cycle count from envVar (default def) and
// seeds its random instants, logging the seed so a failure replays.
func crashPlan(t *testing.T, envVar string, def int) (cycles int, rng *rand.Rand) {
	t.Helper()
	if testing.Short() {
		t.Skip("crash cycles take tens of seconds")
	}
	cycles = def
	if s := os.Getenv(envVar); s != "" {
		cycles, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return cycles, rand.New(rand.NewPCG(seed, 7))
}

// itemsDialect is the SQL an items writer issues on one engine.
type itemsDialect struct {
	update, delete, insert string // placeholders: update (name, id), delete (id), insert (id)
}

var (
	pgItemsSQL = itemsDialect{
		update: `UPDATE items SET amount = amount + 1, name = $1 WHERE id = $2`,
		delete: `DELETE FROM items WHERE id = $1`,
		insert: `INSERT INTO items VALUES ($1, 'new', 1.5, now(), true, NULL) ON CONFLICT DO NOTHING`,
	}
	mysqlItemsSQL = itemsDialect{
		update: `UPDATE items SET amount = amount + 1, name = ? WHERE id = ?`,
		delete: `DELETE FROM items WHERE id = ?`,
		insert: `INSERT IGNORE INTO items VALUES (?, 'new', 1.5, UTC_TIMESTAMP(6), 1, NULL)`,
	}
)

// startItemsWriter keeps writing mixed multi-row transactions (updates,
// deletes, inserts) over ids 1..maxID of items until the returned stop is
// called. It holds mu while it writes, so a checker can pause it.
func startItemsWriter(db *sql.DB, d itemsDialect, maxID int, mu *sync.Mutex) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		next := 200000
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			mu.Lock()
			if tx, err := db.Begin(); err == nil {
				for j := 0; j < 1+i%5; j++ {
					id := 1 + (i*7919+j*104729)%maxID
					switch (i + j) % 4 {
					case 0, 1:
						tx.Exec(d.update, fmt.Sprintf("v%d", i), id)
					case 2:
						tx.Exec(d.delete, id)
					case 3:
						next++
						tx.Exec(d.insert, next)
					}
				}
				tx.Commit()
			}
			mu.Unlock()
			time.Sleep(3 * time.Millisecond)
		}
	}()
	return func() { close(done); wg.Wait() }
}

// killCycles starts syncbridge as a process, kills it with SIGKILL at a
// random instant, and after each kill pauses the writer (mu), runs a
// catch-up `run --once` and calls same to compare the stores.
func killCycles(t *testing.T, e *env, cycles int, rng *rand.Rand, mu *sync.Mutex, same func()) {
	t.Helper()
	for c := 0; c < cycles; c++ {
		cmd, out := e.process("run", "--no-progress")
		time.Sleep(time.Duration(200+rng.IntN(1200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if strings.Contains(out.String(), "panic") {
			t.Fatalf("cycle %d: panic\n%s", c, out)
		}
		mu.Lock()
		e.mustRun("run", "--once", "--no-progress")
		same()
		mu.Unlock()
	}
}
