package cli

import (
	"context"
	"log/slog"

	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
)

// session is what a command that touches data needs: the checked plan (every
// store open), the state store, the logger, and an engine over them.
type session struct {
	cfg  *config.Config
	plan *engine.Plan
	st   state.Store
	log  *slog.Logger
	eng  *engine.Engine
}

// openSession checks the configuration (as validate does) and opens the
// state store. m may be nil for commands that export no metrics.
func (g *globals) openSession(ctx context.Context, m *observe.Metrics) (*session, error) {
	cfg, plan, log, err := g.check(ctx)
	if err != nil {
		return nil, err
	}
	st, err := g.openState(ctx, cfg)
	if err != nil {
		plan.Close()
		return nil, err
	}
	if m == nil {
		m = observe.NewMetrics()
	}
	return &session{cfg: cfg, plan: plan, st: st, log: log, eng: engine.New(plan, st, m, log)}, nil
}

func (s *session) Close() {
	s.st.Close()
	s.plan.Close()
}

// openStateOnly loads the configuration and opens only the state store: for
// read commands that never contact the data stores (status, dlq list,
// conflicts list).
func (g *globals) openStateOnly(ctx context.Context) (*config.Config, state.Store, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	st, err := g.openState(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}
