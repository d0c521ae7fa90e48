package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// Plan is a checked configuration: every store opened, every table described,
// every mapping compiled. Nothing has been written.
type Plan struct {
	Config *config.Config
	Stores map[string]connector.Store
	Flows  []*FlowPlan
}

// FlowPlan is one flow ready to run.
type FlowPlan struct {
	Cfg       config.Flow
	Path      string // "flows[2]" for messages
	From, To  connector.Store
	FromTable *connector.Table
	ToTable   *connector.Table
	Key       []string // source key columns
	Mapping   *transform.Mapping
	Source    connector.SourceSpec
	Sink      connector.SinkSpec
	// Reverse is the to→from pipeline of a both-way flow (nil for one-way
	// flows). Its Cfg is the flow's, turned around: named
	// "<flow>.reverse", from and to swapped, columns mapped back.
	Reverse *FlowPlan
	both    *bothPlan // both-way flows: shared by the two pipelines
}

// Both reports whether fp is one of the two pipelines of a both-way flow.
func (fp *FlowPlan) Both() bool { return fp.both != nil }

// Close closes every opened store.
func (p *Plan) Close() {
	for _, s := range p.Stores {
		s.Close()
	}
}

// Flow returns the named flow plan.
func (p *Plan) Flow(name string) (*FlowPlan, bool) {
	for _, f := range p.Flows {
		if f.Cfg.Name == name {
			return f, true
		}
	}
	return nil, false
}

func problem(path, format string, args ...any) error {
	return &config.Problem{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Check validates cfg statically and against the stores: they are reachable,
// tables exist and have keys, mapped columns exist on both sides with
// compatible types, and the capture mode is possible. It writes nothing. It
// returns every problem found, joined; on success the caller owns the Plan and
// must Close it.
func Check(ctx context.Context, cfg *config.Config, reg *connector.Registry, log *slog.Logger) (*Plan, error) {
	if err := cfg.Validate(config.WithDrivers(reg.Names()...)); err != nil {
		return nil, err
	}
	plan := &Plan{Config: cfg, Stores: map[string]connector.Store{}}
	var errs []error
	for _, name := range sortedKeys(cfg.Stores) {
		sc := cfg.Stores[name]
		drv, _ := reg.Driver(sc.Driver) // known: Validate checked it
		st, err := drv.Open(ctx, connector.StoreConfig{Name: name, Driver: sc.Driver, DSN: sc.DSN,
			Capture: connector.Capture(sc.Capture), ZeroDates: sc.ZeroDates}, log.With("store", name))
		if err != nil {
			errs = append(errs, problem("stores."+name, "cannot open store (dsn %s): %v; fix: check the dsn and that the store is running",
				config.RedactDSN(sc.DSN), err))
			continue
		}
		plan.Stores[name] = st
	}
	for i := range cfg.Flows {
		fp, ferrs := checkFlow(ctx, plan, i)
		errs = append(errs, ferrs...)
		if fp != nil {
			plan.Flows = append(plan.Flows, fp)
		}
	}
	if len(errs) > 0 {
		plan.Close()
		return nil, errors.Join(errs...)
	}
	return plan, nil
}

func checkFlow(ctx context.Context, plan *Plan, i int) (*FlowPlan, []error) {
	fc := plan.Config.Flows[i]
	path := fmt.Sprintf("flows[%d]", i)
	from, to := plan.Stores[fc.From.Store], plan.Stores[fc.To.Store]
	if from == nil || to == nil {
		return nil, nil // the store's own problem is already reported
	}
	var errs []error
	fromT, err := describe(ctx, from, fc.From, path+".from.table")
	if err != nil {
		errs = append(errs, err)
	}
	toT, err := describe(ctx, to, fc.To, path+".to.table")
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	key := fc.Key
	if len(key) == 0 {
		key = fromT.Key
	}
	if len(key) == 0 {
		return nil, []error{problem(path+".key", "flow %s: table %q in store %q has no primary key; fix: add a primary key or list unique, non-null columns under key:",
			fc.Name, fc.From.Table, fc.From.Store)}
	}
	for _, k := range key {
		if _, ok := fromT.Column(k); !ok {
			errs = append(errs, problem(path+".key", "flow %s: key column %q does not exist in %s.%s; columns: %s",
				fc.Name, k, fc.From.Store, fc.From.Table, strings.Join(fromT.ColumnNames(), ", ")))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	m, err := transform.Compile(transform.Spec{Flow: fc.Name, Source: fromT, Target: toT, Key: key,
		Columns: fc.Columns, Filter: fc.Filter})
	if err != nil {
		return nil, []error{problem(path+".columns", "%v", err)}
	}
	errs = append(errs, checkTarget(fc, path, m, fromT, toT)...)
	fp := &FlowPlan{
		Cfg: fc, Path: path, From: from, To: to, FromTable: fromT, ToTable: toT, Key: key, Mapping: m,
		Source: connector.SourceSpec{Flow: fc.Name, Table: fc.From.Table, Key: key,
			Capture: connector.Capture(plan.Config.Stores[fc.From.Store].Capture),
			Poll:    connector.PollSpec{Column: fc.Poll.Column, Every: fc.Poll.Every.D(), Lag: fc.Poll.Lag.D()}},
		Sink: connector.SinkSpec{Flow: fc.Name, Table: fc.To.Table, Key: m.TargetKey(), Columns: m.TargetColumns()},
	}
	if cc, ok := from.(connector.CaptureChecker); ok {
		if err := cc.CheckCapture(ctx, fp.Source); err != nil {
			errs = append(errs, problem("stores."+fc.From.Store+".capture", "flow %s: %v", fc.Name, err))
		}
	}
	if len(errs) == 0 && fc.Direction == config.DirectionBoth {
		errs = append(errs, checkBoth(ctx, plan, fp)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return fp, nil
}

func describe(ctx context.Context, st connector.Store, ep config.Endpoint, path string) (*connector.Table, error) {
	t, err := st.Describe(ctx, ep.Table)
	if errors.Is(err, connector.ErrTableNotFound) {
		return nil, problem(path, "table %q not found in store %q; fix: create it or correct the name", ep.Table, ep.Store)
	}
	if err != nil {
		return nil, problem(path, "describe table %q in store %q: %v", ep.Table, ep.Store, err)
	}
	return t, nil
}

// checkTarget checks that every mapped target column exists, is writable and
// can hold what the source sends, and that the target key is a key.
func checkTarget(fc config.Flow, path string, m *transform.Mapping, fromT, toT *connector.Table) []error {
	var errs []error
	renames := m.Renames()
	for _, tc := range m.TargetColumns() {
		col, ok := toT.Column(tc)
		cpath := path + ".columns." + tc
		if !ok {
			errs = append(errs, problem(cpath, "flow %s: column %q does not exist in %s.%s; columns: %s; fix: map it to an existing column or add it",
				fc.Name, tc, fc.To.Store, fc.To.Table, strings.Join(toT.ColumnNames(), ", ")))
			continue
		}
		if col.Generated {
			errs = append(errs, problem(cpath, "flow %s: column %q in %s.%s is generated by the store and cannot be written; fix: leave it out of columns:",
				fc.Name, tc, fc.To.Store, fc.To.Table))
			continue
		}
		src, ok := renames[tc]
		if !ok {
			continue // expressions are typed at run time; failures go to the DLQ
		}
		scol, _ := fromT.Column(src)
		if !Compatible(scol.Kind, col.Kind) {
			errs = append(errs, problem(cpath, "flow %s: source column %q (%s, %s) cannot be written to target column %q (%s, %s); fix: change the target type or map it with an expression that converts it",
				fc.Name, src, scol.Type, scol.Kind, tc, col.Type, col.Kind))
		}
	}
	if len(toT.Key) > 0 && !sameSet(toT.Key, m.TargetKey()) {
		errs = append(errs, problem(path+".key", "flow %s: the flow's key maps to (%s) but the primary key of %s.%s is (%s); fix: set key: to the source columns that map to the target's primary key",
			fc.Name, strings.Join(m.TargetKey(), ", "), fc.To.Store, fc.To.Table, strings.Join(toT.Key, ", ")))
	}
	if len(toT.Key) == 0 {
		errs = append(errs, problem(path+".to.table", "flow %s: target table %q in store %q has no primary key, so apply cannot be idempotent; fix: add a primary key on (%s)",
			fc.Name, fc.To.Table, fc.To.Store, strings.Join(m.TargetKey(), ", ")))
	}
	return errs
}

// Compatible reports whether values of kind src can be written to a column
// of kind dst without loss or a guaranteed failure.
func Compatible(src, dst change.Kind) bool {
	if src == dst || dst == change.KindText || dst == change.KindUnknown {
		return true
	}
	switch src {
	case change.KindInt:
		return dst == change.KindDecimal || dst == change.KindFloat || dst == change.KindBool
	case change.KindBool:
		return dst == change.KindInt
	case change.KindDecimal:
		return dst == change.KindFloat || dst == change.KindInt
	case change.KindFloat:
		return dst == change.KindDecimal
	case change.KindDate:
		return dst == change.KindTimestamp
	case change.KindTimestamp:
		return dst == change.KindDate
	case change.KindText, change.KindUnknown:
		// Text holding JSON, UUIDs or timestamps is common in loosely typed
		// stores; a value that does not parse goes to the dead-letter queue.
		return dst == change.KindJSON || dst == change.KindUUID || dst == change.KindTimestamp ||
			dst == change.KindDate || dst == change.KindTime
	case change.KindJSON, change.KindUUID, change.KindTime:
		return false
	}
	return false
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}
