package statetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/state"
)

// shortTTL is long enough for the calls a case makes while the lease must be
// live, even on a loaded machine, and short enough to wait out. The expiry
// comes from the database's clock, so the wait has a margin.
const (
	shortTTL = time.Second
	waitOut  = shortTTL + 500*time.Millisecond
)

// wantHeld checks that err reports the lease held by holder.
func wantHeld(t *testing.T, err error, holder string) {
	t.Helper()
	if !errors.Is(err, state.ErrLeaseHeld) {
		t.Fatalf("AcquireLease = %v, want an error wrapping ErrLeaseHeld", err)
	}
	var held *state.LeaseHeldError
	if !errors.As(err, &held) || held.Holder != holder || held.Expires.IsZero() {
		t.Fatalf("AcquireLease = %v, want a *LeaseHeldError naming %q and its expiry", err, holder)
	}
	if !strings.Contains(err.Error(), holder) {
		t.Errorf("message %q does not name the holder %q", err, holder)
	}
}

func testLeaseExclusive(t *testing.T, s state.Store) {
	ctx := t.Context()
	mustDo(t, s.AcquireLease(ctx, "flow/customers", "host-a", time.Minute))
	wantHeld(t, s.AcquireLease(ctx, "flow/customers", "host-b", time.Minute), "host-a")
	// Leases are independent of each other.
	mustDo(t, s.AcquireLease(ctx, "flow/orders", "host-b", time.Minute))
	wantHeld(t, s.AcquireLease(ctx, "flow/orders", "host-a", time.Minute), "host-b")
}

func testLeaseRenew(t *testing.T, s state.Store) {
	ctx := t.Context()
	mustDo(t, s.AcquireLease(ctx, "l", "a", shortTTL))
	mustDo(t, s.AcquireLease(ctx, "l", "a", time.Hour)) // renewal extends the lease
	time.Sleep(waitOut)
	err := s.AcquireLease(ctx, "l", "b", time.Minute)
	wantHeld(t, err, "a")
	var held *state.LeaseHeldError
	errors.As(err, &held)
	if until := time.Until(held.Expires); until < 50*time.Minute {
		t.Errorf("renewed lease expires in %s, want about an hour", until)
	}
}

func testLeaseExpiry(t *testing.T, s state.Store) {
	ctx := t.Context()
	mustDo(t, s.AcquireLease(ctx, "l", "crashed", shortTTL))
	wantHeld(t, s.AcquireLease(ctx, "l", "b", time.Minute), "crashed")
	time.Sleep(waitOut)
	mustDo(t, s.AcquireLease(ctx, "l", "b", time.Minute))
	wantHeld(t, s.AcquireLease(ctx, "l", "crashed", time.Minute), "b")
}

func testLeaseRelease(t *testing.T, s state.Store) {
	ctx := t.Context()
	mustDo(t, s.AcquireLease(ctx, "l", "a", time.Minute))
	mustDo(t, s.ReleaseLease(ctx, "l", "b")) // not b's to give up: a keeps it
	wantHeld(t, s.AcquireLease(ctx, "l", "b", time.Minute), "a")
	mustDo(t, s.ReleaseLease(ctx, "l", "a"))
	mustDo(t, s.AcquireLease(ctx, "l", "b", time.Minute))
	mustDo(t, s.ReleaseLease(ctx, "never-taken", "a"))
	if err := s.AcquireLease(ctx, "l", "c", 0); err == nil {
		t.Error("AcquireLease with ttl 0 succeeded")
	}
}

func testLeaseConcurrent(t *testing.T, s state.Store) {
	ctx := t.Context()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.AcquireLease(ctx, "leader", fmt.Sprintf("holder-%d", i), time.Minute)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("holder-%d and holder-%d both acquired the lease", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, state.ErrLeaseHeld):
			t.Fatalf("holder-%d: %v, want success or ErrLeaseHeld", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("none of the concurrent holders acquired the free lease")
	}
	for _, err := range errs {
		if err != nil {
			wantHeld(t, err, fmt.Sprintf("holder-%d", winner))
		}
	}
}
