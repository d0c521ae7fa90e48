package engine

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/syncbridge/syncbridge/internal/state"
)

// acquire takes a flow's lease. When the holder is a process on this host
// that no longer exists (it was killed), the lease is taken over at once
// instead of waiting for it to expire: a restart after kill -9 must not be
// refused for the lease's TTL. Holders on other hosts are only ever outlived.
func (e *Engine) acquire(ctx context.Context, name string) error {
	err := e.state.AcquireLease(ctx, name, e.holder, leaseTTL)
	var held *state.LeaseHeldError
	if !errors.As(err, &held) || !deadLocalHolder(held.Holder) {
		return err
	}
	e.log.Warn("taking over the lease of a process that no longer runs", "lease", name, "holder", held.Holder)
	if err := e.state.ReleaseLease(ctx, name, held.Holder); err != nil {
		return err
	}
	return e.state.AcquireLease(ctx, name, e.holder, leaseTTL)
}

// holderID names this process: host:pid:nonce.
func holderID() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
}

// deadLocalHolder reports whether holder is a process of this host that has
// exited.
func deadLocalHolder(holder string) bool {
	parts := strings.Split(holder, ":")
	if len(parts) != 3 {
		return false
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(parts[1])
	if parts[0] != host || err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false // ourselves, with another nonce: a live holder
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
