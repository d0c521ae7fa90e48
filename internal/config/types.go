package config

import (
	"fmt"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// UnmarshalYAML decodes a YAML mapping in document order. It works on the
// node rather than through yaml.MapSlice so that a non-string value keeps its
// literal text: `rate: 1.50` is the expression "1.50", not the float 1.5, and
// errors point at the offending entry.
func (c *Columns) UnmarshalYAML(n ast.Node) error {
	n = unwrap(n)
	var entries []*ast.MappingValueNode
	switch v := n.(type) {
	case *ast.NullNode:
		*c = nil
		return nil
	case *ast.MappingNode:
		entries = v.Values
	case *ast.MappingValueNode:
		entries = []*ast.MappingValueNode{v}
	default:
		return nodeError(n, "columns must be a mapping of target column to source column or expression, e.g. `id: cust_id`")
	}
	out := make(Columns, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		target := e.Key.GetToken().Value
		if seen[target] {
			return nodeError(e.Key, fmt.Sprintf("column %q is mapped twice; keep one entry", target))
		}
		seen[target] = true
		src, err := columnSource(target, unwrap(e.Value))
		if err != nil {
			return err
		}
		out = append(out, Column{Target: target, Source: src})
	}
	*c = out
	return nil
}

// columnSource is the text of one mapping value. Numbers and booleans are
// constants written as expr literals, so their text is kept as written.
func columnSource(target string, n ast.Node) (string, error) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, nil
	case *ast.LiteralNode:
		return v.Value.Value, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value, nil
	case *ast.NullNode:
		return "", nodeError(n, fmt.Sprintf("column %q has no source; write a source column, an expression, or nil for NULL", target))
	}
	return "", nodeError(n, fmt.Sprintf("column %q: expected a source column name or an expression", target))
}

// MarshalYAML encodes the mapping in order.
func (c Columns) MarshalYAML() (any, error) {
	out := make(yaml.MapSlice, len(c))
	for i, col := range c {
		out[i] = yaml.MapItem{Key: col.Target, Value: col.Source}
	}
	return out, nil
}

// Sources returns the mapping as target -> source text (order is lost).
func (c Columns) Sources() map[string]string {
	out := make(map[string]string, len(c))
	for _, col := range c {
		out[col.Target] = col.Source
	}
	return out
}

// UnmarshalYAML decodes a Go duration string ("1m30s"). A bare number other
// than 0 is refused rather than guessed: `linger: 50` could mean seconds or
// milliseconds, and either guess is wrong for someone.
func (d *Duration) UnmarshalYAML(n ast.Node) error {
	switch v := unwrap(n).(type) {
	case *ast.NullNode:
		*d = 0
		return nil
	case *ast.StringNode:
		p, err := time.ParseDuration(v.Value)
		if err != nil {
			return nodeError(n, fmt.Sprintf("invalid duration %q: write a number with a unit, e.g. 500ms, 30s, 1m or 1h30m", v.Value))
		}
		*d = Duration(p)
		return nil
	case *ast.IntegerNode, *ast.FloatNode:
		text := v.GetToken().Value
		if text == "0" {
			*d = 0
			return nil
		}
		return nodeError(n, fmt.Sprintf("duration %s has no unit: write %ss for seconds or %sms for milliseconds", text, text, text))
	}
	return nodeError(n, "expected a duration such as 30s or 1m")
}

// MarshalText encodes d as "1m30s", so JSON status output is readable too.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String returns d in Go duration syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// unwrap looks through anchors and tags to the value node.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
}

// nodeError reports msg at n's position; Parse adds the file and key path.
func nodeError(n ast.Node, msg string) error {
	return &yaml.SyntaxError{Message: msg, Token: n.GetToken()}
}
