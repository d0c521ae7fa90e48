package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// ReplayResult is what a dead-letter replay did, per entry.
type ReplayResult struct {
	Entry   state.DLQEntry `json:"entry"`
	Applied bool           `json:"applied"`
	Error   string         `json:"error,omitempty"`
}

// ReplayDLQ re-applies the parked changes of one flow through the flow's
// current mapping and sink, oldest first. Changes to one key stay in order:
// when one fails again, it and the later changes to its key stay parked.
// It takes the flow's lease, so it refuses while `run` is running the flow.
// seqs limits it to those entries (and, to keep order, nothing behind them is
// applied before them). Applied entries leave the queue.
// A both-way flow's pipelines ("<flow>" and "<flow>.reverse") are replayed
// by deciding each parked key again (see replayBoth).
func (e *Engine) ReplayDLQ(ctx context.Context, flow string, seqs []int64) ([]ReplayResult, error) {
	base, fp, ok := e.pipeline(flow)
	if !ok {
		return nil, fmt.Errorf("%w: no flow named %q", errConfig, flow)
	}
	if err := e.acquire(ctx, leaseName(base.Cfg.Name)); err != nil {
		return nil, fmt.Errorf("flow %s: %w; stop the instance running it before replaying", base.Cfg.Name, err)
	}
	defer e.state.ReleaseLease(context.WithoutCancel(ctx), leaseName(base.Cfg.Name), e.holder)

	entries, err := e.state.DLQ(ctx, flow)
	if err != nil {
		return nil, fmt.Errorf("read dead-letter queue: %w", err)
	}
	want := map[int64]bool{}
	for _, s := range seqs {
		want[s] = true
	}
	if base.both != nil {
		return e.replayBoth(ctx, base, fp, entries, want)
	}
	sink, err := fp.To.Sink(ctx, fp.Sink)
	if err != nil {
		return nil, fmt.Errorf("open sink: %w", err)
	}
	defer sink.Close()

	blocked := map[string]bool{} // keys whose earlier entry is still parked
	var out []ReplayResult
	for _, en := range entries {
		if len(want) > 0 && !want[en.Seq] {
			blocked[en.Key] = true
			continue
		}
		if blocked[en.Key] {
			out = append(out, ReplayResult{Entry: en, Error: "an earlier change to the same key is still parked"})
			continue
		}
		if err := e.replayOne(ctx, fp, sink, en.Change); err != nil {
			blocked[en.Key] = true
			out = append(out, ReplayResult{Entry: en, Error: err.Error()})
			continue
		}
		if err := e.state.Unpark(ctx, en.Seq); err != nil {
			return out, fmt.Errorf("remove replayed entry %d: %w", en.Seq, err)
		}
		out = append(out, ReplayResult{Entry: en, Applied: true})
	}
	return out, nil
}

// replayOne applies one parked change in its own transaction, committing
// the sink's current checkpoint unchanged.
func (e *Engine) replayOne(ctx context.Context, fp *FlowPlan, sink connector.Sink, c change.Change) error {
	cp, err := sink.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	if cp == nil {
		return errors.New("the flow has no checkpoint yet: run it first")
	}
	var targets []change.Change
	for _, part := range transform.SplitKeyChange(c, fp.Key) {
		out, keep, err := fp.Mapping.Apply(part)
		if err != nil {
			return fmt.Errorf("map: %w", err)
		}
		if keep {
			targets = append(targets, out)
		}
	}
	tx, err := sink.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := tx.Apply(ctx, targets); err != nil {
		return err
	}
	return tx.Commit(ctx, *cp)
}

// DropDLQ removes parked changes without applying them. Dropping is an
// operator's decision to accept the loss of those changes.
func DropDLQ(ctx context.Context, st state.Store, flow string, seqs []int64) (int, error) {
	entries, err := st.DLQ(ctx, flow)
	if err != nil {
		return 0, fmt.Errorf("read dead-letter queue: %w", err)
	}
	want := map[int64]bool{}
	for _, s := range seqs {
		want[s] = true
	}
	var drop []int64
	for _, en := range entries {
		if len(want) == 0 || want[en.Seq] {
			drop = append(drop, en.Seq)
		}
	}
	if len(drop) == 0 {
		return 0, nil
	}
	if err := st.Unpark(ctx, drop...); err != nil {
		return 0, fmt.Errorf("drop entries: %w", err)
	}
	return len(drop), nil
}
