package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// flowName is what a flow may be called: it appears in metric labels, state
// keys, URLs and file names, so it stays boring.
var flowName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Bounds of the per-flow knobs.
const (
	MinBatchSize = 1
	MaxBatchSize = 100000
)

func (v *validator) flows() {
	c := v.cfg
	if len(c.Flows) == 0 {
		v.add("flows", "no flows defined; add one with name, from, to and key")
		return
	}
	first := map[string]int{} // flow name -> index of its first definition
	for i, f := range c.Flows {
		path := fmt.Sprintf("flows[%d]", i)
		v.name(path, f.Name, i, first)
		v.endpoint(path+".from", f.From)
		v.endpoint(path+".to", f.To)
		if f.From.Store != "" && f.From == f.To {
			v.add(path+".to", "same store and table as from; a flow must write somewhere else")
		}
		v.keyAndColumns(path, f)
		v.direction(path, f)
		v.poll(path, f)
		v.knobs(path, f)
		v.reconcile(path, f)
	}
	v.after(first)
	v.writers()
}

func (v *validator) name(path, name string, i int, first map[string]int) {
	switch {
	case name == "":
		v.add(path+".name", "not set; give the flow a name such as customers")
	case !flowName.MatchString(name):
		v.add(path+".name", "%q is not a valid flow name: use lower-case letters, digits, _ and -, "+
			"starting with a letter or digit", name)
	}
	if j, dup := first[name]; dup && name != "" {
		v.add(path+".name", "duplicate flow name %q (also flows[%d]); flow names must be unique", name, j)
	} else {
		first[name] = i
	}
}

func (v *validator) endpoint(path string, e Endpoint) {
	defined := v.storeNames()
	switch _, ok := v.cfg.Stores[e.Store]; {
	case e.Store == "":
		v.add(path+".store", "not set; defined stores: %s", strings.Join(defined, ", "))
	case !ok:
		v.add(path+".store", "store %q is not defined%s; defined stores: %s", e.Store,
			didYouMean(e.Store, defined), strings.Join(defined, ", "))
	}
	if e.Table == "" {
		v.add(path+".table", "not set; name the table, e.g. public.customers")
	}
}

// keyAndColumns checks the key and that an explicit mapping carries every
// key column by rename: without it the target row cannot be addressed.
func (v *validator) keyAndColumns(path string, f Flow) {
	seen := map[string]bool{}
	for j, k := range f.Key {
		switch {
		case k == "":
			v.add(fmt.Sprintf("%s.key[%d]", path, j), "empty column name")
		case seen[k]:
			v.add(fmt.Sprintf("%s.key[%d]", path, j), "column %q is listed twice", k)
		}
		seen[k] = true
	}
	for _, col := range f.Columns {
		cp := path + "." + renderPath([]string{"columns", col.Target})
		switch {
		case col.Target == "":
			v.add(path+".columns", "a target column has an empty name")
		case strings.TrimSpace(col.Source) == "":
			v.add(cp, "empty; write a source column, an expression, or nil for NULL")
		}
	}
	if len(f.Columns) == 0 {
		return
	}
	for _, k := range f.Key {
		if k != "" && !slices.ContainsFunc(f.Columns, func(c Column) bool { return c.Source == k }) {
			v.add(path+".columns", "key column %q is not mapped; add it by name, e.g. `%s: %s` "+
				"(key columns must be plain renames so the target row can be found)", k, k, k)
		}
	}
}

func (v *validator) direction(path string, f Flow) {
	switch f.Direction {
	case DirectionOneWay:
		c := f.Conflict
		for _, set := range []struct {
			key string
			on  bool
		}{{"conflict.policy", c.Policy != ""}, {"conflict.timestamp", c.Timestamp != ""}, {"conflict.columns", len(c.Columns) > 0},
			{"conflict.owner", c.Owner.Store != "" || len(c.Owner.Columns) > 0 || c.Owner.Rows != ""},
			{"conflict.fallback", c.Fallback != ""}, {"conflict.rule", c.Rule != ""}, {"conflict.tombstone_ttl", c.TombstoneTTL != 0},
			{"reverse", len(f.Reverse) > 0}} {
			if set.on {
				v.add(path+"."+set.key, "only used when direction is both; remove it or set direction: both")
			}
		}
	case DirectionBoth:
		v.conflict(path, f)
	default:
		v.add(path+".direction", "unknown direction %q; one of: one-way, both", f.Direction)
	}
}

// columnPolicies are the policies that can decide a single column.
var columnPolicies = []string{"lww", "source-wins", "target-wins", "owner", "manual"}

// conflict checks what a `both` flow's conflict settings can be checked
// for without the tables; the engine checks column names against them.
func (v *validator) conflict(path string, f Flow) {
	c := f.Conflict
	policy := func(key, p string, allowed []string) {
		switch {
		case !slices.Contains(Policies, p):
			v.add(key, "unknown policy %q%s; one of: %s", p, didYouMean(p, allowed), strings.Join(allowed, ", "))
		case !slices.Contains(allowed, p):
			v.add(key, "%s decides whole rows, not a column; use one of: %s", p, strings.Join(allowed, ", "))
		}
	}
	if c.Policy == "" {
		v.add(path+".conflict.policy", "required when direction is both; one of: %s", strings.Join(Policies, ", "))
	} else {
		policy(path+".conflict.policy", c.Policy, Policies)
	}
	owner := c.Policy == "owner" || c.Fallback == "owner"
	for _, col := range slices.Sorted(maps.Keys(c.Columns)) {
		policy(path+"."+renderPath([]string{"conflict", "columns", col}), c.Columns[col], columnPolicies)
		owner = owner || c.Columns[col] == "owner"
	}
	switch {
	case c.Policy == "merge" && c.Fallback == "":
		v.add(path+".conflict.fallback", "required by policy merge, for columns both sides changed; one of: %s", strings.Join(columnPolicies, ", "))
	case c.Policy == "merge":
		policy(path+".conflict.fallback", c.Fallback, columnPolicies)
	case c.Fallback != "":
		v.add(path+".conflict.fallback", "only used by policy merge; remove it")
	}
	switch {
	case c.Policy == "rule" && c.Rule == "":
		v.add(path+".conflict.rule", `required by policy rule: an expression over base, ours and theirs returning "ours", "theirs", "manual" or a map of columns`)
	case c.Policy != "rule" && c.Rule != "":
		v.add(path+".conflict.rule", "only used by policy rule; remove it or set policy: rule")
	}
	switch {
	case owner && c.Owner.Store == "":
		v.add(path+".conflict.owner.store", "required by the owner policy: the store (%s or %s) that owns the rows", f.From.Store, f.To.Store)
	case owner && c.Owner.Store != f.From.Store && c.Owner.Store != f.To.Store:
		v.add(path+".conflict.owner.store", "%q is not a side of this flow; use %s or %s", c.Owner.Store, f.From.Store, f.To.Store)
	case !owner && (c.Owner.Store != "" || len(c.Owner.Columns) > 0 || c.Owner.Rows != ""):
		v.add(path+".conflict.owner", "only used by the owner policy; remove it or use policy: owner")
	}
	if c.TombstoneTTL < 0 {
		v.add(path+".conflict.tombstone_ttl", "must not be negative, e.g. 168h")
	}
	if f.Filter != "" {
		v.add(path+".filter", "not supported with direction: both (a row filtered out one way cannot be mapped back); remove it or use direction: one-way")
	}
	targets := map[string]bool{}
	for _, col := range f.Reverse {
		cp := path + "." + renderPath([]string{"reverse", col.Target})
		switch {
		case col.Target == "":
			v.add(path+".reverse", "a source column has an empty name")
		case strings.TrimSpace(col.Source) == "":
			v.add(cp, "empty; write an expression over the target row that gives this source column")
		case targets[col.Target]:
			v.add(cp, "listed twice")
		}
		targets[col.Target] = true
	}
}

// poll requires the cursor column when the source polls. Poll settings on a
// flow whose source does not poll are allowed and unused, as in the
// documented example, so one file can switch capture modes by one line.
func (v *validator) poll(path string, f Flow) {
	if from, ok := v.cfg.Stores[f.From.Store]; ok && from.Capture == string(connector.CapturePoll) && f.Poll.Column == "" {
		v.add(path+".poll.column", "required because store %s uses capture: poll; name the source column "+
			"that advances on every change, e.g. poll: {column: updated_at}", f.From.Store)
	}
	if f.Poll.Every < 0 {
		v.add(path+".poll.every", "must be positive, e.g. 1m")
	}
	if f.Poll.Lag < 0 {
		v.add(path+".poll.lag", "must not be negative, e.g. 5s")
	}
}

func (v *validator) knobs(path string, f Flow) {
	if f.Batch.Size < MinBatchSize || f.Batch.Size > MaxBatchSize {
		v.add(path+".batch.size", "%d is out of range; use %d to %d (default %d)",
			f.Batch.Size, MinBatchSize, MaxBatchSize, DefaultBatchSize)
	}
	if f.Batch.Linger < 0 {
		v.add(path+".batch.linger", "must not be negative, e.g. 50ms")
	}
	if f.Retry.MaxAttempts < 1 {
		v.add(path+".retry.max_attempts", "must be at least 1 (default %d)", DefaultMaxAttempts)
	}
	if f.Retry.Backoff <= 0 {
		v.add(path+".retry.backoff", "must be positive, e.g. 200ms")
	}
	if f.Retry.MaxBackoff < f.Retry.Backoff {
		v.add(path+".retry.max_backoff", "%s is less than retry.backoff (%s); raise it", f.Retry.MaxBackoff, f.Retry.Backoff)
	}
	if f.Truncate != "" && f.Truncate != "propagate" && f.Truncate != "ignore" {
		v.add(path+".truncate", "%q is not a choice; use propagate (default) or ignore", f.Truncate)
	}
}

// writers refuses two flows writing one table: their changes would race with
// no conflict detection between them. A `both` flow writes its source too.
func (v *validator) writers() {
	type table struct{ store, name string }
	writer := map[table]int{} // table -> index of the flow writing it
	claim := func(path string, e Endpoint, i int) {
		if e.Store == "" || e.Table == "" {
			return
		}
		t := table{e.Store, e.Table}
		if j, ok := writer[t]; ok && j != i {
			v.add(path, "table %s in store %s is already written by flow %s (flows[%d]); a table has one "+
				"writing flow: merge the flows or use direction: both", e.Table, e.Store, v.cfg.Flows[j].Name, j)
			return
		}
		writer[t] = i
	}
	for i, f := range v.cfg.Flows {
		claim(fmt.Sprintf("flows[%d].to", i), f.To, i)
		if f.Direction == DirectionBoth {
			claim(fmt.Sprintf("flows[%d].from", i), f.From, i)
		}
	}
}

// MinReconcileEvery bounds scheduled reconciliation: each run reads both
// stores, so more often than this is a mistake, not a policy.
const MinReconcileEvery = Duration(time.Minute)

func (v *validator) reconcile(path string, f Flow) {
	switch e := f.Reconcile.Every; {
	case e < 0:
		v.add(path+".reconcile.every", "must not be negative, e.g. 24h")
	case e > 0 && e < MinReconcileEvery:
		v.add(path+".reconcile.every", "%s is too often: each run reads both stores; use at least 1m, e.g. 24h", e)
	}
	if f.Reconcile.Repair && f.Direction == DirectionBoth {
		v.add(path+".reconcile.repair", "repair is not supported for direction: both flows yet; set repair: false")
	}
	if f.Reconcile.Repair && f.Reconcile.Every == 0 {
		v.add(path+".reconcile.every", "required when repair is true, e.g. every: 24h")
	}
}
