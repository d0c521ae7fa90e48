package conflict

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Policy is how conflicts are decided. The zero Policy is invalid.
type Policy int

// The policies.
const (
	LWW Policy = iota + 1
	SourceWins
	TargetWins
	Owner
	Merge
	Rule
	Manual
)

var policyNames = [...]string{LWW: "lww", SourceWins: "source-wins", TargetWins: "target-wins", Owner: "owner",
	Merge: "merge", Rule: "rule", Manual: "manual"}

func (p Policy) String() string {
	if p > 0 && int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("policy(%d)", int(p))
}

// ParsePolicy reads a policy name as the config writes it.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if i > 0 && n == s {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("unknown conflict policy %q; one of: %s", s, strings.Join(policyNames[1:], ", "))
}

// Version is one side's row in a conflict.
type Version struct {
	Row    change.Row // nil: deleted
	Time   time.Time  // when it was written, for lww
	Store  string     // the store it lives in: ties and ownership
	Source bool       // it is the flow's from store
}

// Deleted reports whether the version is a deletion.
func (v Version) Deleted() bool { return v.Row == nil }

// Input is one conflict: rows in the to table's model.
type Input struct {
	Base   change.Row // last agreed row; nil when there is none or it was deleted
	Ours   Version    // the side whose change met the conflict
	Theirs Version    // the other side, as it is now
}

// Outcome is what a decision does.
type Outcome int

// The outcomes.
const (
	Ours   Outcome = iota + 1 // ours goes to both sides
	Theirs                    // theirs stays and goes to both sides
	Merged                    // Decision.Row goes to both sides
	Park                      // nothing is written; an operator decides
)

var outcomeNames = [...]string{Ours: "ours", Theirs: "theirs", Merged: "merged", Park: "parked"}

func (o Outcome) String() string {
	if o > 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Decision is how a conflict is settled.
type Decision struct {
	Outcome Outcome
	Row     change.Row // the merged row when Outcome is Merged
	Reason  string     // for the conflict log
}

// Result returns the row both sides end with: ours, theirs or the merged one
// (nil for a deletion, and when parked).
func (d Decision) Result(in Input) change.Row {
	switch d.Outcome {
	case Ours:
		return in.Ours.Row
	case Theirs:
		return in.Theirs.Row
	case Merged:
		return d.Row
	}
	return nil
}

// Config is a flow's conflict settings, as the config writes them.
type Config struct {
	Policy   string
	Columns  map[string]string // column -> policy overriding Policy for it
	Fallback string            // merge: the policy for columns both sides changed
	Owner    OwnerConfig
	Rule     string
	// Table is the to table: the columns rules and owner.rows read.
	Table *connector.Table
}

// OwnerConfig says what a store owns.
type OwnerConfig struct {
	Store   string
	Columns []string // empty: the whole row
	Rows    string   // expression over the to-table row; empty: every row
}

// Resolver decides the conflicts of one flow. It is immutable and safe for
// concurrent use.
type Resolver struct {
	policy   Policy
	columns  map[string]Policy
	fallback Policy
	owner    *owner
	rule     *rule
}

// columnPolicies may override single columns.
var columnPolicies = []Policy{LWW, SourceWins, TargetWins, Owner, Manual}

// New compiles cfg. Errors name the setting at fault.
func New(cfg Config) (*Resolver, error) {
	var errs []error
	r := &Resolver{columns: map[string]Policy{}}
	var err error
	if r.policy, err = ParsePolicy(cfg.Policy); err != nil {
		return nil, fmt.Errorf("conflict.policy: %w", err)
	}
	for _, col := range slices.Sorted(maps.Keys(cfg.Columns)) {
		p, err := ParsePolicy(cfg.Columns[col])
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("conflict.columns.%s: %w", col, err))
		case !slices.Contains(columnPolicies, p):
			errs = append(errs, fmt.Errorf("conflict.columns.%s: %s decides whole rows; a column takes lww, source-wins, target-wins, owner or manual", col, p))
		default:
			r.columns[col] = p
		}
		if cfg.Table != nil {
			if _, ok := cfg.Table.Column(col); !ok {
				errs = append(errs, fmt.Errorf("conflict.columns.%s: the to table %s has no column %s", col, cfg.Table.Name, col))
			}
		}
	}
	needOwner := r.policy == Owner
	if r.policy == Merge {
		if cfg.Fallback == "" {
			errs = append(errs, errors.New("conflict.fallback: required by policy merge for columns both sides changed; e.g. lww"))
		} else if p, err := ParsePolicy(cfg.Fallback); err != nil {
			errs = append(errs, fmt.Errorf("conflict.fallback: %w", err))
		} else if !slices.Contains(columnPolicies, p) {
			errs = append(errs, fmt.Errorf("conflict.fallback: %s cannot decide a column; use lww, source-wins, target-wins, owner or manual", p))
		} else {
			r.fallback = p
		}
	}
	needOwner = needOwner || r.fallback == Owner || slices.Contains(slices.Collect(maps.Values(r.columns)), Owner)
	if needOwner {
		o, err := newOwner(cfg.Owner, cfg.Table)
		if err != nil {
			errs = append(errs, err)
		}
		r.owner = o
	}
	if r.policy == Rule {
		ru, err := newRule(cfg.Rule, cfg.Table)
		if err != nil {
			errs = append(errs, err)
		}
		r.rule = ru
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Policy returns the flow's row policy.
func (r *Resolver) Policy() Policy { return r.policy }

// Enforces reports whether a change must be decided by the policy although
// the other side did not change since the base: under the owner policy, a
// change by the store that does not own the row (or the owned columns it
// changed) is decided, so the owner's version stands on both sides.
func (r *Resolver) Enforces(in Input) bool {
	return r.policy == Owner && r.owner.enforces(in)
}

// Resolve decides one conflict.
func (r *Resolver) Resolve(in Input) Decision {
	d := r.row(r.policy, in)
	if d.Outcome == Park || len(r.columns) == 0 || in.Ours.Deleted() || in.Theirs.Deleted() {
		return d
	}
	return r.overrideColumns(d, in)
}

// row decides with a row policy.
func (r *Resolver) row(p Policy, in Input) Decision {
	switch p {
	case LWW:
		return lww(in)
	case SourceWins:
		if in.Ours.Source {
			return Decision{Outcome: Ours, Reason: "source-wins: ours is from the source store " + in.Ours.Store}
		}
		return Decision{Outcome: Theirs, Reason: "source-wins: theirs is from the source store " + in.Theirs.Store}
	case TargetWins:
		if !in.Ours.Source {
			return Decision{Outcome: Ours, Reason: "target-wins: ours is from the target store " + in.Ours.Store}
		}
		return Decision{Outcome: Theirs, Reason: "target-wins: theirs is from the target store " + in.Theirs.Store}
	case Owner:
		return r.owner.decide(in)
	case Merge:
		return r.merge(in)
	case Rule:
		return r.rule.decide(in)
	}
	return Decision{Outcome: Park, Reason: "manual: waiting for an operator (syncbridge conflicts resolve)"}
}

// lww picks the later version; equal times go to the store whose name sorts
// first.
func lww(in Input) Decision {
	o, t := in.Ours.Time, in.Theirs.Time
	switch {
	case o.After(t):
		return Decision{Outcome: Ours, Reason: fmt.Sprintf("lww: ours (%s) is newer than theirs (%s)", stamp(o), stamp(t))}
	case t.After(o):
		return Decision{Outcome: Theirs, Reason: fmt.Sprintf("lww: theirs (%s) is newer than ours (%s)", stamp(t), stamp(o))}
	case in.Ours.Store <= in.Theirs.Store:
		return Decision{Outcome: Ours, Reason: fmt.Sprintf("lww: same time %s; tie goes to store %s (first by name)", stamp(o), in.Ours.Store)}
	}
	return Decision{Outcome: Theirs, Reason: fmt.Sprintf("lww: same time %s; tie goes to store %s (first by name)", stamp(o), in.Theirs.Store)}
}

func stamp(t time.Time) string { return t.UTC().Format(change.TimestampLayout) }

// side returns the version a decision picked for one column.
func pick(d Decision, in Input) (Version, bool) {
	switch d.Outcome {
	case Ours:
		return in.Ours, true
	case Theirs:
		return in.Theirs, true
	}
	return Version{}, false
}

// merge is the three-way merge per column.
func (r *Resolver) merge(in Input) Decision {
	if in.Ours.Deleted() || in.Theirs.Deleted() {
		d := r.column(r.fallback, in, "")
		d.Reason = "merge: a delete against an update is decided by the fallback: " + d.Reason
		return d
	}
	out := make(change.Row, len(in.Ours.Row))
	var fell []string
	for _, col := range columnsOf(in.Ours.Row, in.Theirs.Row) {
		o, oOK := in.Ours.Row[col]
		t, tOK := in.Theirs.Row[col]
		b, bOK := in.Base[col]
		switch {
		case !tOK || oOK && tOK && change.Equal(o, t):
			out[col] = o
		case !oOK:
			out[col] = t
		case bOK && change.Equal(o, b):
			out[col] = t
		case bOK && change.Equal(t, b):
			out[col] = o
		default: // both changed it
			d := r.column(r.fallback, in, col)
			v, ok := pick(d, in)
			if !ok {
				return Decision{Outcome: Park, Reason: fmt.Sprintf("merge: both sides changed %s; fallback %s", col, d.Reason)}
			}
			out[col] = v.Row[col]
			fell = append(fell, col+" ("+d.Reason+")")
		}
	}
	d := simplify(out, in)
	if len(fell) == 0 {
		d.Reason = "merge: the sides changed different columns"
	} else {
		d.Reason = "merge: both sides changed " + strings.Join(fell, "; ")
	}
	return d
}

// column decides one column (or, with col "", a whole row) by a column
// policy.
func (r *Resolver) column(p Policy, in Input, col string) Decision {
	if p == Owner {
		return r.owner.decideColumn(in, col)
	}
	return r.row(p, in)
}

// overrideColumns applies conflict.columns to a row decision.
func (r *Resolver) overrideColumns(d Decision, in Input) Decision {
	v, ok := pick(d, in)
	var out change.Row
	if ok {
		out = v.Row.Clone()
	} else {
		out = d.Row.Clone()
	}
	var notes []string
	for _, col := range slices.Sorted(maps.Keys(r.columns)) {
		o, oOK := in.Ours.Row[col]
		t, tOK := in.Theirs.Row[col]
		if !oOK || !tOK || change.Equal(o, t) {
			continue
		}
		if b, bOK := in.Base[col]; bOK && in.Base != nil {
			if change.Equal(o, b) {
				out[col] = t // only theirs changed it
				continue
			}
			if change.Equal(t, b) {
				out[col] = o
				continue
			}
		}
		cd := r.column(r.columns[col], in, col)
		cv, ok := pick(cd, in)
		if !ok {
			return Decision{Outcome: Park, Reason: fmt.Sprintf("column %s: %s", col, cd.Reason)}
		}
		out[col] = cv.Row[col]
		notes = append(notes, "column "+col+": "+cd.Reason)
	}
	res := simplify(out, in)
	res.Reason = d.Reason
	if len(notes) > 0 {
		res.Reason += "; " + strings.Join(notes, "; ")
	}
	return res
}

// simplify names a merged row that equals one side as that side.
func simplify(out change.Row, in Input) Decision {
	switch {
	case rowsEqual(out, in.Ours.Row):
		return Decision{Outcome: Ours}
	case rowsEqual(out, in.Theirs.Row):
		return Decision{Outcome: Theirs}
	}
	return Decision{Outcome: Merged, Row: out}
}

// rowsEqual compares two rows on the union of their columns.
func rowsEqual(a, b change.Row) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !change.Equal(v, w) {
			return false
		}
	}
	return true
}

func columnsOf(rows ...change.Row) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		for k := range r {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
