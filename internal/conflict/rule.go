package conflict

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// rule is a compiled conflict.rule. Its environment:
//
//	base, ours, theirs                 maps of column -> value; nil when absent or deleted
//	ours_time, theirs_time             the versions' times
//	ours_store, theirs_store           the stores' names
//	ours_source, theirs_source         whether the version is from the flow's from store
//
// It returns "ours", "theirs", "source", "target" or "manual", or a map of
// column values merged onto ours (onto theirs when ours is a deletion).
type rule struct {
	src   string
	prog  *vm.Program
	kinds map[string]change.Kind
}

func ruleEnv() map[string]any {
	var row map[string]any
	return map[string]any{
		"base": row, "ours": row, "theirs": row,
		"ours_time": time.Time{}, "theirs_time": time.Time{},
		"ours_store": "", "theirs_store": "",
		"ours_source": false, "theirs_source": false,
	}
}

func newRule(src string, t *connector.Table) (*rule, error) {
	if src == "" {
		return nil, errors.New(`conflict.rule: required by policy rule; an expression over base, ours and theirs, e.g. 'ours.status == "closed" ? "ours" : "theirs"'`)
	}
	p, err := expr.Compile(src, transform.ExprOptions(ruleEnv())...)
	if err != nil {
		return nil, fmt.Errorf("conflict.rule: %w", err)
	}
	r := &rule{src: src, prog: p, kinds: map[string]change.Kind{}}
	if t != nil {
		for _, c := range t.Columns {
			r.kinds[c.Name] = c.Kind
		}
	}
	return r, nil
}

func rowEnv(r change.Row) map[string]any {
	if r == nil {
		return nil
	}
	out := make(map[string]any, len(r))
	for k, v := range r {
		out[k] = transform.GoValue(v)
	}
	return out
}

func (r *rule) decide(in Input) Decision {
	env := ruleEnv()
	env["base"], env["ours"], env["theirs"] = rowEnv(in.Base), rowEnv(in.Ours.Row), rowEnv(in.Theirs.Row)
	env["ours_time"], env["theirs_time"] = in.Ours.Time, in.Theirs.Time
	env["ours_store"], env["theirs_store"] = in.Ours.Store, in.Theirs.Store
	env["ours_source"], env["theirs_source"] = in.Ours.Source, in.Theirs.Source
	res, err := expr.Run(r.prog, env)
	if err != nil {
		return Decision{Outcome: Park, Reason: fmt.Sprintf("rule failed, parked: %v", err)}
	}
	why := "rule " + r.src
	switch x := res.(type) {
	case string:
		switch x {
		case "ours":
			return Decision{Outcome: Ours, Reason: why + ": ours"}
		case "theirs":
			return Decision{Outcome: Theirs, Reason: why + ": theirs"}
		case "source":
			return Decision{Outcome: winner(in.Ours.Source), Reason: why + ": source"}
		case "target":
			return Decision{Outcome: winner(!in.Ours.Source), Reason: why + ": target"}
		case "manual":
			return Decision{Outcome: Park, Reason: why + ": manual"}
		}
		return Decision{Outcome: Park, Reason: fmt.Sprintf("%s returned %q; want ours, theirs, source, target, manual or a map of columns", why, x)}
	case map[string]any:
		out := in.Ours.Row.Clone()
		if out == nil {
			out = in.Theirs.Row.Clone()
		}
		for _, col := range slices.Sorted(maps.Keys(x)) {
			kind, ok := r.kinds[col]
			if !ok && len(r.kinds) > 0 {
				return Decision{Outcome: Park, Reason: fmt.Sprintf("%s returned column %s, which the to table does not have", why, col)}
			}
			v, err := transform.ToValue(x[col], kind)
			if err != nil {
				return Decision{Outcome: Park, Reason: fmt.Sprintf("%s: column %s: %v", why, col, err)}
			}
			out[col] = v
		}
		d := simplify(out, in)
		d.Reason = why + ": merged"
		return d
	}
	return Decision{Outcome: Park, Reason: fmt.Sprintf("%s returned %T; want ours, theirs, source, target, manual or a map of columns", why, res)}
}
