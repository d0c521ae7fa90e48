package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// WithLease runs fn while holding flow's lease, so that fn never races a
// `run` applying the same flow. It refuses, wrapping ErrLeaseHeld, while
// another instance holds it.
func (e *Engine) WithLease(ctx context.Context, flow string, fn func(ctx context.Context) error) error {
	if _, ok := e.plan.Flow(flow); !ok {
		return fmt.Errorf("%w: no flow named %q", errConfig, flow)
	}
	if err := e.acquire(ctx, leaseName(flow)); err != nil {
		return fmt.Errorf("flow %s: %w; stop the instance running it first", flow, err)
	}
	defer e.state.ReleaseLease(context.WithoutCancel(ctx), leaseName(flow), e.holder)
	return fn(ctx)
}

// Correction is one target change Correct could not apply.
type Correction struct {
	Change change.Change
	Err    error
}

// Correct applies changes that are already in the target's model (Table,
// Key and After in target names, as reconciliation's fixes are) through the
// flow's sink, in one transaction that commits the sink's current checkpoint
// unchanged: the stream position is not moved by a repair. A change the
// sink refuses is skipped and returned; the rest are applied. The caller
// holds the flow's lease (WithLease), or is the running engine's own
// scheduled reconciliation.
func Correct(ctx context.Context, fp *FlowPlan, changes []change.Change) (applied int, refused []Correction, err error) {
	sink, err := fp.To.Sink(ctx, fp.Sink)
	if err != nil {
		return 0, nil, fmt.Errorf("open sink: %w", err)
	}
	defer sink.Close()
	cp, err := sink.Checkpoint(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if cp == nil {
		return 0, nil, errors.New("the flow has no checkpoint yet: run it first (its backfill copies every row)")
	}
	tx, err := sink.Begin(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UTC()
	work := make([]change.Change, len(changes))
	copy(work, changes)
	for i := range work {
		if work[i].CommitTime.IsZero() {
			work[i].CommitTime = now
		}
	}
	for len(work) > 0 {
		err := tx.Apply(ctx, work)
		var ae *connector.ApplyError
		if err == nil {
			applied += len(work)
			break
		}
		if !errors.As(err, &ae) {
			return 0, nil, fmt.Errorf("apply: %w", err)
		}
		applied += ae.Index
		refused = append(refused, Correction{Change: work[ae.Index], Err: ae.Err})
		work = work[ae.Index+1:]
	}
	if err := tx.Commit(ctx, *cp); err != nil {
		return 0, nil, fmt.Errorf("commit: %w", err)
	}
	return applied, refused, nil
}
