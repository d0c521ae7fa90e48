package config

import (
	"fmt"
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
		if f.Conflict.Policy != "" {
			v.add(path+".conflict.policy", "only used when direction is both; remove it or set direction: both")
		}
		if f.Conflict.Timestamp != "" {
			v.add(path+".conflict.timestamp", "only used when direction is both; remove it or set direction: both")
		}
	case DirectionBoth:
		switch {
		case f.Conflict.Policy == "":
			v.add(path+".conflict.policy", "required when direction is both; one of: %s", strings.Join(Policies, ", "))
		case !slices.Contains(Policies, f.Conflict.Policy):
			v.add(path+".conflict.policy", "unknown policy %q%s; one of: %s", f.Conflict.Policy,
				didYouMean(f.Conflict.Policy, Policies), strings.Join(Policies, ", "))
		}
	default:
		v.add(path+".direction", "unknown direction %q; one of: one-way, both", f.Direction)
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
