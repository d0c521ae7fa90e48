package transform

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
)

// functions are the helpers added to expr's builtins (concat replaces
// expr's own, see there). The string builtins
// that mappings use most are redefined with SQL's NULL rule (NULL in, NULL
// out), so `lower(email)` maps a NULL email to NULL instead of failing the
// change; on strings they behave exactly like expr's own.
var functions = []expr.Option{
	nullString("lower", strings.ToLower),
	nullString("upper", strings.ToUpper),
	expr.Function("trim", trim, new(func(string) string), new(func(string, string) string)),
	nullString2("trimPrefix", strings.TrimPrefix),
	nullString2("trimSuffix", strings.TrimSuffix),
	expr.Function("replace", replace, new(func(string, string, string) string)),
	expr.Function("coalesce", coalesce),
	expr.Function("hash", hash, new(func(string) string), new(func([]byte) string)),
	expr.Function("split_part", splitPart, new(func(string, string, int) string)),
	expr.Function("concat", concat, new(func(...any) string)),
	expr.Function("concat_ws", concatWS, new(func(string, ...any) string)),
	expr.Function("decimal", decimal, new(func(string) float64), new(func(int64) float64), new(func(float64) float64)),
}

func nullString(name string, f func(string) string) expr.Option {
	return expr.Function(name, func(p ...any) (any, error) {
		if p[0] == nil {
			return nil, nil
		}
		s, err := str(name, p[0])
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}, new(func(string) string))
}

func nullString2(name string, f func(string, string) string) expr.Option {
	return expr.Function(name, func(p ...any) (any, error) {
		if p[0] == nil {
			return nil, nil
		}
		s, err := str(name, p[0])
		if err != nil {
			return nil, err
		}
		a, err := str(name, p[1])
		if err != nil {
			return nil, err
		}
		return f(s, a), nil
	}, new(func(string, string) string))
}

func str(fn string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: want a string, got %T", fn, v)
	}
	return s, nil
}

func trim(p ...any) (any, error) {
	if p[0] == nil {
		return nil, nil
	}
	s, err := str("trim", p[0])
	if err != nil {
		return nil, err
	}
	if len(p) == 1 {
		return strings.TrimSpace(s), nil
	}
	cut, err := str("trim", p[1])
	if err != nil {
		return nil, err
	}
	return strings.Trim(s, cut), nil
}

func replace(p ...any) (any, error) {
	if p[0] == nil {
		return nil, nil
	}
	var s [3]string
	for i := range s {
		v, err := str("replace", p[i])
		if err != nil {
			return nil, err
		}
		s[i] = v
	}
	return strings.ReplaceAll(s[0], s[1], s[2]), nil
}

// coalesce returns its first non-NULL argument, or NULL.
func coalesce(p ...any) (any, error) {
	for _, v := range p {
		if v != nil {
			return v, nil
		}
	}
	return nil, nil
}

// hash is the hex SHA-256 of a string or bytes: a stable pseudonym for
// masking. It is not keyed; a guessable value (an email) can be found by
// hashing candidates, so use it for joins, not for secrecy.
func hash(p ...any) (any, error) {
	var sum [sha256.Size]byte
	switch v := p[0].(type) {
	case nil:
		return nil, nil
	case string:
		sum = sha256.Sum256([]byte(v))
	case []byte:
		sum = sha256.Sum256(v)
	default:
		return nil, fmt.Errorf("hash: want a string or bytes, got %T", v)
	}
	return hex.EncodeToString(sum[:]), nil
}

// splitPart is PostgreSQL's split_part: the n-th field (1-based) of s split
// by sep, counting from the end when n is negative, "" when out of range.
func splitPart(p ...any) (any, error) {
	if p[0] == nil {
		return nil, nil
	}
	s, err := str("split_part", p[0])
	if err != nil {
		return nil, err
	}
	sep, err := str("split_part", p[1])
	if err != nil {
		return nil, err
	}
	var n int
	switch v := p[2].(type) {
	case int:
		n = v
	case int64:
		n = int(v)
	}
	if n == 0 {
		return nil, fmt.Errorf("split_part: field number must be a non-zero integer, got %v", p[2])
	}
	parts := strings.Split(s, sep)
	if n < 0 {
		n = len(parts) + n + 1
	}
	if n < 1 || n > len(parts) {
		return "", nil
	}
	return parts[n-1], nil
}

// concat joins its non-NULL arguments as text, as PostgreSQL's concat. It
// replaces expr's array concat, which a column mapping has no use for:
// concat(first, " ", last) is what SQL users write.
func concat(p ...any) (any, error) {
	var b strings.Builder
	for _, v := range p {
		if v != nil {
			b.WriteString(text(v))
		}
	}
	return b.String(), nil
}

// concatWS joins its non-NULL arguments with sep, as SQL's concat_ws: the
// way to join name fields when some are NULL.
func concatWS(p ...any) (any, error) {
	sep, err := str("concat_ws", p[0])
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	first := true
	for _, v := range p[1:] {
		if v == nil {
			continue
		}
		if !first {
			b.WriteString(sep)
		}
		first = false
		b.WriteString(text(v))
	}
	return b.String(), nil
}

// text renders a scalar the way concat_ws writes it.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// decimal turns a decimal (which expressions see as its exact text) into a
// float64 for arithmetic. It is only applied when called, because it can
// round: 0.1 + 0.2 is not 0.3 in float64.
func decimal(p ...any) (any, error) {
	switch v := p[0].(type) {
	case nil:
		return nil, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("decimal: %q is not a number", v)
		}
		return f, nil
	case int64:
		return float64(v), nil
	case int:
		return float64(v), nil
	case float64:
		return v, nil
	}
	return nil, fmt.Errorf("decimal: want a decimal text or a number, got %T", p[0])
}
