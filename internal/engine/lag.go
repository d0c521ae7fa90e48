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
