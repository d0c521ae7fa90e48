package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Load reads, expands and strictly decodes the config file at path, then
// applies defaults. Variables are taken from the process environment. It does
// not run Validate: callers that know the driver registry run it with
// WithDrivers.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, src, os.LookupEnv)
}

// Parse is Load on bytes already read: path names the file in messages and
// anchors relative paths; env looks up variables (nil means os.LookupEnv).
// Every error is a *FileError or several joined with errors.Join.
func Parse(path string, src []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, fileError(path, src, nil, err)
	}
	var body ast.Node
	for _, d := range f.Docs {
		if d.Body == nil {
			continue
		}
		if body != nil {
			return nil, &FileError{File: path, Line: d.Body.GetToken().Position.Line,
				Msg: "more than one YAML document; put the whole config in one document"}
		}
		body = d.Body
	}
	if body == nil {
		return nil, &FileError{File: path, Line: 1, Msg: "the file is empty; define stores and flows"}
	}
	x := expander{file: path, env: env}
	body = x.node(body, false)
	if len(x.errs) > 0 {
		return nil, errors.Join(x.errs...)
	}
	cfg := &Config{}
	if err := yaml.NodeToValue(body, cfg, yaml.DisallowUnknownField()); err != nil {
		return nil, fileError(path, src, body, err)
	}
	cfg.Path = path
	cfg.unquotedNulls(body)
	cfg.applyDefaults()
	return cfg, nil
}

// expander replaces ${VAR} and ${VAR:-default} inside scalar values of the
// parsed document. Keys are never expanded, and a value is never re-parsed as
// anything but a single scalar, so the environment cannot add structure.
type expander struct {
	file string
	env  func(string) (string, bool)
	errs []error
}

// node expands n and returns its replacement. Values under a tag (!!str) keep
// their type: the tag is the author's explicit choice.
func (x *expander) node(n ast.Node, tagged bool) ast.Node {
	switch v := n.(type) {
	case *ast.MappingNode:
		for _, mv := range v.Values {
			mv.Value = x.node(mv.Value, false)
		}
	case *ast.MappingValueNode:
		v.Value = x.node(v.Value, false)
	case *ast.SequenceNode:
		for i := range v.Values {
			v.Values[i] = x.node(v.Values[i], false)
		}
	case *ast.AnchorNode:
		v.Value = x.node(v.Value, tagged)
	case *ast.TagNode:
		v.Value = x.node(v.Value, true)
	case *ast.LiteralNode:
		if v.Value != nil {
			v.Value.Value = x.expand(v.Value.Value, v.GetToken())
		}
	case *ast.StringNode:
		return x.scalar(v, tagged)
	}
	return n
}

// scalar expands one string node and re-types an unquoted result that reads
// as a bool or a number, so `enabled: ${ON}` decodes into a bool field. Only
// canonical forms are re-typed ("250", "true", "1.5"; not "012", "0x1F",
// "1.50", "null"): goccy decodes a number node into a string field by its
// value, and a password "012" must not become "10".
func (x *expander) scalar(s *ast.StringNode, tagged bool) ast.Node {
	if !strings.Contains(s.Value, "${") {
		return s
	}
	s.Value = x.expand(s.Value, s.Token)
	if tagged || s.Token == nil || s.Token.Type != token.StringType {
		return s
	}
	f, err := parser.ParseBytes([]byte(s.Value), 0)
	if err != nil || len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return s
	}
	var canonical string
	switch b := f.Docs[0].Body.(type) {
	case *ast.BoolNode:
		canonical = strconv.FormatBool(b.Value)
	case *ast.IntegerNode:
		canonical = fmt.Sprint(b.Value)
	case *ast.FloatNode:
		canonical = strconv.FormatFloat(b.Value, 'f', -1, 64)
	default:
		return s
	}
	if canonical != s.Value {
		return s
	}
	n := f.Docs[0].Body
	n.GetToken().Position = s.Token.Position // errors point into the file
	return n
}

// expand substitutes every ${NAME} and ${NAME:-default} in s. "$${" is a
// literal "${". As in the shell, the default applies when NAME is unset or
// empty. A bare "$" (common in passwords) is left alone.
func (x *expander) expand(s string, tk *token.Token) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1]) // the first '$' is the escape
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			x.fail(tk, fmt.Sprintf("unterminated variable reference %q; close it with }", s[i:]))
			return b.String()
		}
		ref := s[i+2 : i+end]
		s = s[i+end+1:]
		b.WriteString(x.lookup(ref, tk))
	}
}

// lookup resolves one reference, recording an error for an unset variable
// without a default so that every missing variable is reported at once.
func (x *expander) lookup(ref string, tk *token.Token) string {
	name, def, hasDef := strings.Cut(ref, ":-")
	if !validVarName(name) {
		x.fail(tk, fmt.Sprintf("invalid variable reference ${%s}; names are letters, digits and _, "+
			"and a default is written ${NAME:-default}", ref))
		return ""
	}
	v, ok := x.env(name)
	if hasDef && v == "" {
		return def
	}
	if !ok {
		x.fail(tk, fmt.Sprintf("environment variable %s is not set (use ${%s:-default} for a default)", name, name))
	}
	return v
}

func (x *expander) fail(tk *token.Token, msg string) {
	e := &FileError{File: x.file, Msg: msg}
	if tk != nil && tk.Position != nil {
		e.Line = tk.Position.Line
	}
	x.errs = append(x.errs, e)
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
