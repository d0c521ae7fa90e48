package sqlite

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Row images are what the capture triggers write: a flat JSON object from
// column name to the stored value, where integers and reals are JSON
// numbers, text is a string, NULL is null and a blob is ["x", "HEX"].
// Decoding them is the hot path of streaming, so parseImage reads exactly
// that shape by hand (no reflection, no intermediate map) and hands each
// member over as the Go value SQLite itself would have returned. Anything
// else falls back to encoding/json, which is exact but several times slower.

// parseImage calls fn with each member of the image js.
func parseImage(js string, fn func(name string, raw any) error) error {
	p := imageParser{s: js}
	if err := p.object(fn); err == nil {
		return nil
	} else if !errors.Is(err, errImageShape) {
		return err
	}
	return parseImageSlow(js, fn)
}

type imageParser struct {
	s string
	i int
}

func (p *imageParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

// expect consumes c after optional space.
func (p *imageParser) expect(c byte) bool {
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *imageParser) object(fn func(string, any) error) error {
	if !p.expect('{') {
		return errImageShape
	}
	if p.expect('}') {
		return p.end()
	}
	// Members are collected first so that a shape error found half way
	// through leaves fn uncalled and the slow path starts clean.
	type member struct {
		name string
		raw  any
	}
	var members [16]member
	ms := members[:0]
	for {
		name, err := p.str()
		if err != nil {
			return err
		}
		if !p.expect(':') {
			return errImageShape
		}
		raw, err := p.value()
		if err != nil {
			return err
		}
		ms = append(ms, member{name, raw})
		if p.expect(',') {
			continue
		}
		if !p.expect('}') {
			return errImageShape
		}
		break
	}
	if err := p.end(); err != nil {
		return err
	}
	for _, m := range ms {
		if err := fn(m.name, m.raw); err != nil {
			return err
		}
	}
	return nil
}

func (p *imageParser) end() error {
	p.skipSpace()
	if p.i != len(p.s) {
		return errImageShape
	}
	return nil
}

// str reads a JSON string. Strings without escapes (nearly all) are sliced
// out as they are; escaped ones are decoded by encoding/json.
func (p *imageParser) str() (string, error) {
	p.skipSpace()
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", errImageShape
	}
	start := p.i
	escaped := false
	for j := start + 1; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '\\':
			escaped = true
			j++
		case c == '"':
			p.i = j + 1
			if !escaped {
				return p.s[start+1 : j], nil
			}
			var out string
			if err := json.Unmarshal([]byte(p.s[start:p.i]), &out); err != nil {
				return "", errImageShape
			}
			return out, nil
		case c < 0x20:
			return "", errImageShape
		}
	}
	return "", errImageShape
}

func (p *imageParser) value() (any, error) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, errImageShape
	}
	switch c := p.s[p.i]; {
	case c == '"':
		return p.str()
	case c == 'n' && strings.HasPrefix(p.s[p.i:], "null"):
		p.i += 4
		return nil, nil
	case c == 't' && strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
		return true, nil
	case c == 'f' && strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
		return false, nil
	case c == '-' || ('0' <= c && c <= '9'):
		start := p.i
		for p.i < len(p.s) && strings.IndexByte("+-.0123456789eE", p.s[p.i]) >= 0 {
			p.i++
		}
		return parseNumber(p.s[start:p.i])
	case c == '[':
		p.i++
		tag, err := p.str()
		if err != nil || tag != "x" || !p.expect(',') {
			return nil, errImageShape
		}
		h, err := p.str()
		if err != nil || !p.expect(']') {
			return nil, errImageShape
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("blob hex: %w", err)
		}
		return b, nil
	}
	return nil, errImageShape
}

// parseNumber keeps integers exact as int64 and everything else as the
// float64 SQLite stored (its JSON prints reals with 17 significant digits,
// which read back to the same float64).
func parseNumber(s string) (any, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, errImageShape
	}
	return f, nil
}

// parseImageSlow decodes any JSON object with encoding/json; numbers are
// read as json.Number so they stay exact.
func parseImageSlow(js string, fn func(name string, raw any) error) error {
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("row image: data after the object")
	}
	for name, v := range m {
		raw, err := imageValue(v)
		if err != nil {
			return fmt.Errorf("column %q: %w", name, err)
		}
		if err := fn(name, raw); err != nil {
			return err
		}
	}
	return nil
}

// imageValue converts one value decoded by encoding/json back to what
// SQLite stored.
func imageValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool:
		return x, nil
	case json.Number:
		n, err := parseNumber(string(x))
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return n, nil
	case []any:
		if len(x) == 2 && x[0] == "x" {
			if h, ok := x[1].(string); ok {
				return hex.DecodeString(h)
			}
		}
	}
	return nil, fmt.Errorf("unexpected value %v in row image", v)
}
