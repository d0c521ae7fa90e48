package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// FileError is a problem found while reading the file: a syntax error, an
// unknown key, a value of the wrong type or an unset variable. It prints as
// "syncbridge.yaml:12:5: msg", the form editors and CI annotations jump to.
type FileError struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	Msg    string
}

func (e *FileError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// fileError turns a goccy error into a *FileError that names the key path
// and, for an unknown key, the closest known key. goccy's own text contains Go
// type names and a coloured excerpt; neither helps someone editing YAML.
func fileError(file string, src []byte, body ast.Node, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil || ye.GetToken().Position == nil {
		return &FileError{File: file, Msg: err.Error()}
	}
	tk := ye.GetToken()
	fe := &FileError{File: file, Line: tk.Position.Line, Column: tk.Position.Column, Msg: ye.GetMessage()}
	var loc nodeLoc
	if body != nil {
		idx := map[*token.Token]nodeLoc{}
		indexPaths(body, nil, idx)
		loc = idx[tk]
	}
	var unknown *yaml.UnknownFieldError
	var typ *yaml.TypeError
	switch {
	case errors.As(err, &unknown) && loc.key != "":
		fe.Msg = fmt.Sprintf("unknown field %q", loc.key)
		if len(loc.segs) > 1 {
			fe.Msg += " in " + renderPath(loc.segs[:len(loc.segs)-1])
		}
		known := fieldsAt(reflect.TypeFor[Config](), loc.segs[:len(loc.segs)-1])
		if s := closest(loc.key, known); s != "" {
			fe.Msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(known) > 0 {
			fe.Msg += "; known fields: " + strings.Join(known, ", ")
		}
	case errors.As(err, &typ) && len(loc.segs) > 0:
		fe.Msg = fmt.Sprintf("%s: expected %s, got %q", renderPath(loc.segs), describeType(typ.DstType), tk.Value)
	case len(loc.segs) > 0:
		fe.Msg = renderPath(loc.segs) + ": " + fe.Msg
	}
	return fe
}

// nodeLoc is where a token sits in the document: its key path, and for a
// mapping key the key itself.
type nodeLoc struct {
	segs []string // "flows", "[0]", "from", "store"
	key  string   // set when the token is a mapping key
}

// indexPaths records the path of every key and scalar token under n.
func indexPaths(n ast.Node, segs []string, idx map[*token.Token]nodeLoc) {
	if n == nil {
		return
	}
	if tk := n.GetToken(); tk != nil {
		if _, seen := idx[tk]; !seen {
			idx[tk] = nodeLoc{segs: segs}
		}
	}
	switch v := n.(type) {
	case *ast.MappingNode:
		for _, mv := range v.Values {
			indexPaths(mv, segs, idx)
		}
	case *ast.MappingValueNode:
		key := v.Key.GetToken().Value
		child := append(append([]string(nil), segs...), key)
		idx[v.Key.GetToken()] = nodeLoc{segs: child, key: key}
		indexPaths(v.Value, child, idx)
	case *ast.SequenceNode:
		for i, e := range v.Values {
			indexPaths(e, append(append([]string(nil), segs...), fmt.Sprintf("[%d]", i)), idx)
		}
	case *ast.AnchorNode:
		indexPaths(v.Value, segs, idx)
	case *ast.TagNode:
		indexPaths(v.Value, segs, idx)
	}
}

// renderPath joins segments as Problem paths are written:
// flows[0].columns.email, or columns["first name"] for an unusual key.
func renderPath(segs []string) string {
	var b strings.Builder
	for _, s := range segs {
		switch {
		case strings.HasPrefix(s, "["):
			b.WriteString(s)
		case !plainKey(s):
			fmt.Fprintf(&b, "[%q]", s)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// fieldsAt returns the yaml keys of the struct reached from t by segs, or nil
// when segs does not lead to a struct.
func fieldsAt(t reflect.Type, segs []string) []string {
	for _, s := range segs {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByKey(t, s)
			if !ok {
				return nil
			}
			t = f.Type
		case reflect.Map, reflect.Slice:
			t = t.Elem()
		default:
			return nil
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if yamlKey(t.Field(i)) == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// describeType names a Go type the way the YAML author thinks of it.
func describeType(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t {
	case reflect.TypeFor[Duration]():
		return "a duration such as 30s"
	case reflect.TypeFor[Columns]():
		return "a mapping of target column to source column or expression"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}
