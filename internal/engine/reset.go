package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/state"
)

// Reset forgets a flow's checkpoint so the next run backfills it, and with
// dropCapture removes the flow's capture resources at the source. It takes
// the flow's lease. It returns what it did, one line each.
func (e *Engine) Reset(ctx context.Context, flow string, dropCapture bool) ([]string, error) {
	fp, ok := e.plan.Flow(flow)
	if !ok {
		return nil, fmt.Errorf("%w: no flow named %q; for a flow removed from the config, name its source store: reset --store NAME --flow %s --drop-capture", errConfig, flow, flow)
	}
	if err := e.acquire(ctx, leaseName(flow)); err != nil {
		return nil, fmt.Errorf("flow %s: %w; stop the instance running it first", flow, err)
	}
	defer e.state.ReleaseLease(context.WithoutCancel(ctx), leaseName(flow), e.holder)
	var did []string
	sink, err := fp.To.Sink(ctx, fp.Sink)
	if err != nil {
		return nil, fmt.Errorf("open sink: %w", err)
	}
	defer sink.Close()
	r, ok := sink.(connector.CheckpointResetter)
	if !ok {
		return nil, errors.New("the target's driver cannot reset checkpoints")
	}
	if err := r.ResetCheckpoint(ctx); err != nil {
		return nil, err
	}
	did = append(did, fmt.Sprintf("flow %s: checkpoint in %s.%s removed; the next run backfills it", flow, fp.Cfg.To.Store, fp.Cfg.To.Table))
	if dropCapture {
		if d, ok := fp.From.(connector.CaptureDropper); ok {
			if err := d.DropCapture(ctx, flow); err != nil {
				return did, fmt.Errorf("drop capture: %w", err)
			}
			did = append(did, fmt.Sprintf("flow %s: capture resources at store %s dropped", flow, fp.Cfg.From.Store))
		}
	}
	if err := e.state.SetStatus(ctx, state.FlowStatus{Flow: flow, Phase: "reset"}); err != nil {
		return did, fmt.Errorf("record status: %w", err)
	}
	return did, nil
}

// DropRemovedCapture drops the capture resources a flow that is no longer in
// the config left at a source store (its replication slot and publication).
func (e *Engine) DropRemovedCapture(ctx context.Context, store, flow string) (string, error) {
	if _, ok := e.plan.Flow(flow); ok {
		return "", fmt.Errorf("%w: flow %q is in the config; reset it without --store", errConfig, flow)
	}
	st, ok := e.plan.Stores[store]
	if !ok {
		return "", fmt.Errorf("%w: no store named %q", errConfig, store)
	}
	d, ok := st.(connector.CaptureDropper)
	if !ok {
		return "", fmt.Errorf("store %q holds no capture resources to drop", store)
	}
	if err := d.DropCapture(ctx, flow); err != nil {
		return "", err
	}
	return fmt.Sprintf("store %s: capture resources of removed flow %s dropped", store, flow), nil
}
