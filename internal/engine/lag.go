package engine

import (
	"context"
	"time"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// sourceLagEvery is how often the source is asked how much log it retains
// for each flow.
const sourceLagEvery = 15 * time.Second

// watchSourceLag keeps syncbridge_source_lag_bytes current for the flows
// whose source store can tell (WAL retained by a replication slot). It
// returns when ctx ends; errors only skip a sample.
func (e *Engine) watchSourceLag(ctx context.Context, flows []*FlowPlan) {
	t := time.NewTicker(sourceLagEvery)
	defer t.Stop()
	for {
		for _, fp := range flows {
			lr, ok := fp.From.(connector.LagReporter)
			if !ok {
				continue
			}
			if n, err := lr.SourceLagBytes(ctx, fp.Cfg.Name); err == nil {
				e.metrics.SourceLagBytes.WithLabelValues(fp.Cfg.Name).Set(float64(n))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// warnOrphanCaptures logs, once at start, capture resources at the source
// stores that no configured flow owns: an abandoned replication slot keeps
// WAL on the server's disk until it is dropped.
func (e *Engine) warnOrphanCaptures(ctx context.Context) {
	var flows []string
	for _, fp := range e.plan.Flows {
		flows = append(flows, fp.Cfg.Name)
		if fp.Reverse != nil { // a both-way flow's to→from pipeline has capture of its own
			flows = append(flows, fp.Reverse.Cfg.Name)
		}
	}
	for name, st := range e.plan.Stores {
		cl, ok := st.(connector.CaptureLister)
		if !ok {
			continue
		}
		orphans, err := cl.OrphanCaptures(ctx, flows)
		if err != nil {
			e.log.Warn("list capture resources", "store", name, "error", err)
			continue
		}
		for _, o := range orphans {
			e.log.Warn("capture resource owned by no configured flow retains source log (WAL grows until it is dropped); "+
				"drop it with `syncbridge reset --store "+name+" --flow <old flow name> --drop-capture --yes`",
				"store", name, "resource", o)
		}
	}
}
