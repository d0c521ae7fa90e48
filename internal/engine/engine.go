package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
	"golang.org/x/sync/errgroup"
)

// Engine runs the flows of a checked Plan.
type Engine struct {
	plan    *Plan
	state   state.Store
	metrics *observe.Metrics
	log     *slog.Logger
	holder  string
	// Progress, when set, is told how far each backfill has got; total is -1
	// when unknown. It is called from the flows' goroutines.
	Progress func(flow string, done, total int64)
	// ProgressDone, when set, is told that a flow's backfill finished.
	ProgressDone func(flow string)
	// Reconcile, when set, is called every reconcile.every for each flow
	// that schedules reconciliation, beside the running flow (not with
	// Once). Its errors are logged; the flow keeps running.
	Reconcile func(ctx context.Context, flow string) error
	// Fault, for crash tests, kills the process (SIGKILL) the first time a
	// both-way transaction that writes a conflict's winner back reaches the
	// named point: FaultAfterIntent, FaultAfterTargetCommit or
	// FaultAfterWriteBack. `run --fault` sets it.
	Fault string
}

// The points where Engine.Fault can kill the process, in the order a
// both-way transaction reaches them.
const (
	FaultAfterIntent       = "after-intent"        // the intent is saved, nothing committed
	FaultAfterTargetCommit = "after-target-commit" // the target committed, the write-back not
	FaultAfterWriteBack    = "after-write-back"    // both committed, bases and conflicts not recorded
)

// fault kills the process when armed at the point Fault names.
func (e *Engine) fault(point string, armed bool) {
	if armed && e.Fault == point {
		e.log.Warn("fault injection: killing the process", "point", point)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
}

// New returns an engine for plan. It does not start anything.
func New(plan *Plan, st state.Store, m *observe.Metrics, log *slog.Logger) *Engine {
	return &Engine{plan: plan, state: st, metrics: m, log: log, holder: holderID()}
}

// RunOptions select what Run does.
type RunOptions struct {
	Once  bool     // catch up to the position each source had at start, then return
	Flows []string // only these flows (default all)
}

// leaseTTL is how long a flow's lease lives without renewal; a crashed
// instance's flows are free again after it.
const leaseTTL = 30 * time.Second

// ErrLeaseHeld is returned by Run when another instance runs a flow.
var ErrLeaseHeld = state.ErrLeaseHeld

// Run runs the selected flows until ctx is done (graceful: the batch in hand
// is committed or rolled back, never half-applied) or, with Once, until every
// flow has caught up. Flows held by another instance are refused before
// anything starts.
func (e *Engine) Run(ctx context.Context, opts RunOptions) error {
	flows, err := e.selectFlows(opts.Flows)
	if err != nil {
		return err
	}
	var held []string
	for _, fp := range flows {
		if err := e.acquire(ctx, leaseName(fp.Cfg.Name)); err != nil {
			for _, h := range held {
				e.state.ReleaseLease(context.WithoutCancel(ctx), leaseName(h), e.holder)
			}
			if errors.Is(err, state.ErrLeaseHeld) {
				return fmt.Errorf("flow %s: %w; only one instance may run a flow at a time", fp.Cfg.Name, err)
			}
			return fmt.Errorf("flow %s: take lease: %w", fp.Cfg.Name, err)
		}
		held = append(held, fp.Cfg.Name)
	}
	defer func() {
		for _, h := range held {
			e.state.ReleaseLease(context.WithoutCancel(ctx), leaseName(h), e.holder)
		}
	}()

	prior := map[string]state.FlowStatus{}
	if sts, err := e.state.Statuses(ctx); err == nil {
		for _, s := range sts {
			prior[s.Flow] = s
		}
	}
	runs := map[string]*flowRun{}
	for _, fp := range flows {
		status := prior[fp.Cfg.Name]
		status.Flow, status.Holder, status.LastError = fp.Cfg.Name, e.holder, ""
		src, err := fp.From.Source(ctx, fp.Source)
		if err != nil {
			return fmt.Errorf("flow %s: open source: %w", fp.Cfg.Name, err)
		}
		sink, err := fp.To.Sink(ctx, fp.Sink)
		if err != nil {
			return fmt.Errorf("flow %s: open sink: %w", fp.Cfg.Name, err)
		}
		defer sink.Close()
		runs[fp.Cfg.Name] = &flowRun{plan: fp, eng: e, m: e.metrics, src: src, sink: sink, once: opts.Once,
			log: e.log.With(observe.KeyFlow, fp.Cfg.Name), backfilled: make(chan struct{}),
			attempts: map[string]int{}, started: time.Now(),
			status: status}
	}
	for _, r := range runs {
		for _, dep := range r.plan.Cfg.After {
			if d, ok := runs[dep]; ok {
				r.deps = append(r.deps, d.backfilled)
			}
		}
	}
	for _, fp := range flows {
		if fp.Reverse == nil {
			continue
		}
		b, err := e.startReverse(ctx, runs, fp, prior, opts)
		if err != nil {
			return fmt.Errorf("flow %s: %w", fp.Cfg.Name, err)
		}
		defer b.close()
		defer runs[fp.Reverse.Cfg.Name].sink.Close()
	}

	buildOrder(runs)

	g, gctx := errgroup.WithContext(ctx)
	leaseCtx, stopLeases := context.WithCancel(gctx)
	defer stopLeases()
	g.Go(func() error { return e.renewLeases(leaseCtx, held) })
	g.Go(func() error { e.watchSourceLag(leaseCtx, flows); return nil })
	e.warnOrphanCaptures(ctx)
	flowsDone := make(chan struct{})
	fg, fctx := errgroup.WithContext(leaseCtx)
	for _, name := range held {
		r := runs[name]
		fg.Go(func() error { return r.run(fctx) })
		if rev, ok := runs[name+ReverseSuffix]; ok {
			fg.Go(func() error { return rev.run(fctx) })
		}
		if every := r.plan.Cfg.Reconcile.Every.D(); every > 0 && e.Reconcile != nil && !opts.Once {
			fg.Go(func() error { e.reconcileEvery(fctx, name, every); return nil })
		}
	}
	g.Go(func() error {
		defer close(flowsDone)
		err := fg.Wait()
		stopLeases()
		return err
	})
	err = g.Wait()
	<-flowsDone
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

func (e *Engine) selectFlows(names []string) ([]*FlowPlan, error) {
	if len(names) == 0 {
		return e.plan.Flows, nil
	}
	var out []*FlowPlan
	for _, n := range names {
		fp, ok := e.plan.Flow(n)
		if !ok {
			return nil, fmt.Errorf("%w: no flow named %q", errConfig, n)
		}
		out = append(out, fp)
	}
	// A flow's `after:` dependencies run with it, so its ordering holds.
	return out, nil
}

// renewLeases keeps the flows' leases alive. Losing one (another instance
// took it after a long pause of ours) stops the run: two writers must never
// apply the same flow.
func (e *Engine) renewLeases(ctx context.Context, names []string) error {
	t := time.NewTicker(leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, n := range names {
			if err := e.state.AcquireLease(ctx, leaseName(n), e.holder, leaseTTL); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("flow %s: lease lost: %w", n, err)
			}
		}
	}
}

// reconcileEvery runs the Reconcile hook for flow every interval until ctx
// is done. The first run waits one interval: a freshly started flow is
// still catching up.
func (e *Engine) reconcileEvery(ctx context.Context, flow string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := e.Reconcile(ctx, flow); err != nil && ctx.Err() == nil {
			e.log.Warn("scheduled reconciliation failed", "flow", flow, "error", err)
		}
	}
}

func leaseName(flow string) string { return "flow:" + flow }

func (e *Engine) progress(flow string, done, total int64) {
	if e.Progress != nil {
		e.Progress(flow, done, total)
	}
}

func (e *Engine) progressDone(flow string) {
	if e.ProgressDone != nil {
		e.ProgressDone(flow)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
