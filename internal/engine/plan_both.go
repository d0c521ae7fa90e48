package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/conflict"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// ReverseSuffix names the to→from pipeline of a both-way flow: its
// checkpoint, capture, status, metrics and dead-letter entries go by
// "<flow>.reverse". Flow names cannot contain a dot, so it never collides.
const ReverseSuffix = ".reverse"

// writeBackSuffix names the sinks that write a conflict's winner back to the
// side a change came from; their checkpoint rows hold only a token that
// tells recovery whether a write-back committed.
const writeBackSuffix = ".writeback"

// bothPlan is what the two pipelines of a both-way flow share.
type bothPlan struct {
	resolver  *conflict.Resolver
	fwd, rev  *transform.Mapping // from→to and to→from
	fromStore string
	toStore   string
	timestamp string // to-table column lww reads; "" = commit time
	ttl       time.Duration
	// wbFrom and wbTo are the write-back sinks into each side.
	wbFrom, wbTo connector.SinkSpec
}

// bothCapture is, for drivers whose trigger capture is not validated in
// both-way flows, the capture to use instead. SQLite's triggers are.
var bothCapture = map[string]string{"postgres": "logical", "mysql": "binlog"}

// checkBoth plans the reverse pipeline and the conflict handling of a
// both-way flow, and checks that every column the forward mapping computes
// can be mapped back.
func checkBoth(ctx context.Context, plan *Plan, fp *FlowPlan) []error {
	fc, path := fp.Cfg, fp.Path
	var errs []error
	if fc.From.Store == fc.To.Store && plan.Config.Stores[fc.From.Store].Driver == "sqlite" {
		errs = append(errs, problem(path+".to.store", "flow %s: both sides are in one SQLite file %q, which allows one writer at a time, "+
			"so conflicts could not be applied to both sides at once; fix: put the tables in two files", fc.Name, fc.From.Store))
	}
	for _, side := range []struct{ path, store string }{{".from.store", fc.From.Store}, {".to.store", fc.To.Store}} {
		sc := plan.Config.Stores[side.store]
		if want, ok := bothCapture[sc.Driver]; ok && sc.Capture == "trigger" {
			errs = append(errs, problem(path+side.path, "flow %s: store %s (%s) reads changes with capture: trigger, which both-way flows do not support "+
				"on this driver yet (under concurrent writers on both sides it can deliver a change late or miss a delete); "+
				"fix: set capture: %s on store %s", fc.Name, side.store, sc.Driver, want, side.store))
		}
	}
	fwd := fp.Mapping
	if fwd.ReadsAll() {
		errs = append(errs, problem(path+".columns", "flow %s: an expression reads $env (the whole row), which cannot be mapped back; "+
			"fix: name the columns it reads", fc.Name))
	}
	revCols := reverseColumns(fc, fwd)
	rev, err := transform.Compile(transform.Spec{Flow: fc.Name + ReverseSuffix, Source: fp.ToTable, Target: fp.FromTable,
		Key: fwd.TargetKey(), Columns: revCols})
	if err != nil {
		return append(errs, problem(path+".reverse", "%v", err))
	}
	produced := rev.TargetColumns()
	for _, tc := range fwd.TargetColumns() {
		for _, dep := range fwd.Inputs()[tc] {
			if !slices.Contains(produced, dep) {
				errs = append(errs, problem(path+".reverse", "flow %s: column %s is computed from source column %s, which nothing maps back; "+
					"fix: add it under reverse: as an expression over %s's columns, e.g. `reverse: {%s: <expression using %s>}`",
					fc.Name, tc, dep, fc.To.Table, dep, tc))
			}
		}
	}
	res, cerrs := checkConflict(fp)
	errs = append(errs, cerrs...)
	rp, rerrs := reversePlan(ctx, plan, fp, rev, revCols)
	errs = append(errs, rerrs...)
	fp.Sink.SuppressCapture = true
	fp.Reverse = rp
	fp.both = &bothPlan{resolver: res, fwd: fwd, rev: rev, fromStore: fc.From.Store, toStore: fc.To.Store,
		timestamp: fc.Conflict.Timestamp, ttl: fc.Conflict.TombstoneTTL.D(),
		wbFrom: connector.SinkSpec{Flow: fc.Name + writeBackSuffix + ".from", Table: fc.From.Table, Key: fp.Key,
			Columns: rev.TargetColumns(), SuppressCapture: true},
		wbTo: connector.SinkSpec{Flow: fc.Name + writeBackSuffix + ".to", Table: fc.To.Table, Key: fwd.TargetKey(),
			Columns: fwd.TargetColumns(), SuppressCapture: true},
	}
	rp.both = fp.both
	return errs
}

// checkConflict compiles the flow's conflict settings against the to table
// and the columns the flow writes.
func checkConflict(fp *FlowPlan) (*conflict.Resolver, []error) {
	fc, path, fwd := fp.Cfg, fp.Path, fp.Mapping
	var errs []error
	if ts := fc.Conflict.Timestamp; ts != "" && !slices.Contains(fwd.TargetColumns(), ts) {
		errs = append(errs, problem(path+".conflict.timestamp", "flow %s: %q is not a column the flow writes in %s; columns: %s",
			fc.Name, ts, fc.To.Table, strings.Join(fwd.TargetColumns(), ", ")))
	}
	res, err := conflict.New(conflict.Config{Policy: fc.Conflict.Policy, Columns: fc.Conflict.Columns, Fallback: fc.Conflict.Fallback,
		Owner: conflict.OwnerConfig{Store: fc.Conflict.Owner.Store, Columns: fc.Conflict.Owner.Columns, Rows: fc.Conflict.Owner.Rows},
		Rule:  fc.Conflict.Rule, Table: fp.ToTable})
	if err != nil {
		errs = append(errs, problem(path, "flow %s: %v", fc.Name, err))
	}
	for _, col := range append(slices.Clone(fc.Conflict.Owner.Columns), mapKeys(fc.Conflict.Columns)...) {
		if _, ok := fp.ToTable.Column(col); ok && !slices.Contains(fwd.TargetColumns(), col) {
			errs = append(errs, problem(path+".conflict", "flow %s: column %s is not one the flow writes, so it never conflicts; fix: map it under columns: or remove it",
				fc.Name, col))
		}
	}
	return res, errs
}

// reversePlan is the to→from pipeline of a both-way flow: the flow's config
// turned around, mapped by rev.
func reversePlan(ctx context.Context, plan *Plan, fp *FlowPlan, rev *transform.Mapping, revCols config.Columns) (*FlowPlan, []error) {
	fc, path, fwd := fp.Cfg, fp.Path, fp.Mapping
	var errs []error
	rc := fc
	rc.Name = fc.Name + ReverseSuffix
	rc.From, rc.To = fc.To, fc.From
	rc.Key, rc.Columns, rc.Reverse, rc.After = fwd.TargetKey(), revCols, nil, nil
	rc.Reconcile = config.Reconcile{}
	rc.Poll.Column = ""
	toCapture := connector.Capture(plan.Config.Stores[fc.To.Store].Capture)
	if toCapture == connector.CapturePoll {
		rc.Poll.Column = renamedTo(fwd, fc.Poll.Column)
		if rc.Poll.Column == "" {
			errs = append(errs, problem(path+".poll.column", "flow %s: store %s polls, so the reverse pipeline needs a poll column in %s; "+
				"fix: set poll.column to a source column renamed to the target's updated_at", fc.Name, fc.To.Store, fc.To.Table))
		}
	}
	errs = append(errs, checkTarget(rc, path+".reverse", rev, fp.ToTable, fp.FromTable)...)
	rp := &FlowPlan{
		Cfg: rc, Path: path, From: fp.To, To: fp.From, FromTable: fp.ToTable, ToTable: fp.FromTable, Key: fwd.TargetKey(), Mapping: rev,
		Source: connector.SourceSpec{Flow: rc.Name, Table: rc.From.Table, Key: rc.Key, Capture: toCapture,
			Poll: connector.PollSpec{Column: rc.Poll.Column, Every: rc.Poll.Every.D(), Lag: rc.Poll.Lag.D()}},
		Sink: connector.SinkSpec{Flow: rc.Name, Table: rc.To.Table, Key: fp.Key, Columns: rev.TargetColumns(), SuppressCapture: true},
	}
	if cc, ok := rp.From.(connector.CaptureChecker); ok {
		if err := cc.CheckCapture(ctx, rp.Source); err != nil {
			errs = append(errs, problem("stores."+fc.To.Store+".capture", "flow %s (reverse): %v", fc.Name, err))
		}
	}
	return rp, errs
}

// reverseColumns is the to→from mapping: the forward renames inverted (a
// source column renamed twice maps back from the first), then the flow's
// reverse: entries, which win.
func reverseColumns(fc config.Flow, fwd *transform.Mapping) config.Columns {
	explicit := map[string]bool{}
	for _, c := range fc.Reverse {
		explicit[c.Target] = true
	}
	renames := fwd.Renames()
	var out config.Columns
	seen := map[string]bool{}
	for _, tc := range fwd.TargetColumns() {
		src, ok := renames[tc]
		if !ok || seen[src] || explicit[src] {
			continue
		}
		seen[src] = true
		out = append(out, config.Column{Target: src, Source: tc})
	}
	return append(out, fc.Reverse...)
}

// renamedTo returns the target column that renames source column src.
func renamedTo(m *transform.Mapping, src string) string {
	if src == "" {
		return ""
	}
	renames := m.Renames()
	for _, tc := range m.TargetColumns() {
		if renames[tc] == src {
			return tc
		}
	}
	return ""
}

func mapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// String describes the pipeline for messages.
func (b *bothPlan) String() string {
	return fmt.Sprintf("%s <-> %s (%s)", b.fromStore, b.toStore, b.resolver.Policy())
}
