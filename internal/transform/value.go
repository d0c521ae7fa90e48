package transform

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
)

// goValue is what an expression sees for a column value. Decimals, times of
// day, JSON, UUIDs and unknown types are their exact text: no float64 ever
// stands in for a decimal unless the expression calls decimal().
func goValue(v change.Value) any {
	switch v.Kind {
	case change.KindNull, 0:
		return nil
	case change.KindBool:
		return v.AsBool()
	case change.KindInt:
		return v.AsInt()
	case change.KindFloat:
		return v.AsFloat()
	case change.KindBytes:
		return v.AsBytes()
	case change.KindTimestamp, change.KindDate:
		return v.AsTime()
	case change.KindArray:
		arr := v.AsArray()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = goValue(e)
		}
		return out
	}
	return v.String()
}

// toValue turns an expression's result into a Value of the target column's
// kind; kind 0 (target unknown) keeps the result's natural kind. A result
// that cannot become the kind exactly is an error, never a silent cast.
func toValue(res any, kind change.Kind) (change.Value, error) {
	v, err := infer(res)
	if err != nil {
		return change.Value{}, err
	}
	if kind == 0 || kind == change.KindUnknown || v.Kind == kind || v.Kind == change.KindNull {
		return v, nil
	}
	out, err := coerce(v, kind)
	if err != nil {
		return change.Value{}, fmt.Errorf("result %s (%s) does not fit the column kind %s: %w", short(v), v.Kind, kind, err)
	}
	return out, nil
}

// infer maps a Go result to the Value kind it naturally is.
func infer(res any) (change.Value, error) {
	switch x := res.(type) {
	case nil:
		return change.Null, nil
	case bool:
		return change.Bool(x), nil
	case int:
		return change.Int(int64(x)), nil
	case int64:
		return change.Int(x), nil
	case int32:
		return change.Int(int64(x)), nil
	case float64:
		return change.Float(x), nil
	case string:
		return change.Text(x), nil
	case []byte:
		return change.Bytes(x), nil
	case time.Time:
		return change.Timestamp(x), nil
	case map[string]any:
		b, err := json.Marshal(x)
		if err != nil {
			return change.Value{}, fmt.Errorf("result map: %w", err)
		}
		return change.JSON(string(b)), nil
	}
	rv := reflect.ValueOf(res)
	switch rv.Kind() {
	case reflect.Int8, reflect.Int16:
		return change.Int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() > math.MaxInt64 {
			return change.Value{}, fmt.Errorf("result %d overflows a 64-bit integer", rv.Uint())
		}
		return change.Int(int64(rv.Uint())), nil
	case reflect.Float32:
		return change.Float(rv.Float()), nil
	case reflect.Slice, reflect.Array:
		out := make([]change.Value, rv.Len())
		for i := range out {
			e, err := infer(rv.Index(i).Interface())
			if err != nil {
				return change.Value{}, err
			}
			out[i] = e
		}
		return change.Array(out), nil
	}
	return change.Value{}, fmt.Errorf("result of type %T cannot be stored in a column", res)
}

// coerce converts v to kind when no information is lost.
func coerce(v change.Value, kind change.Kind) (change.Value, error) {
	s := v.String()
	switch {
	case kind == change.KindDecimal && v.Kind == change.KindInt:
		return change.Decimal(s)
	case kind == change.KindDecimal && v.Kind == change.KindFloat:
		f := v.AsFloat()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return change.Value{}, errors.New("not a finite number")
		}
		return change.Decimal(strconv.FormatFloat(f, 'f', -1, 64))
	case kind == change.KindInt && v.Kind == change.KindFloat:
		f := v.AsFloat()
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return change.Value{}, errors.New("not a whole number in the 64-bit range")
		}
		return change.Int(int64(f)), nil
	case kind == change.KindFloat && v.Kind == change.KindInt:
		return change.Float(float64(v.AsInt())), nil
	case kind == change.KindText && v.Kind != change.KindBytes && v.Kind != change.KindArray:
		return change.Text(s), nil
	case kind == change.KindJSON && v.Kind == change.KindText:
		if !json.Valid([]byte(s)) {
			return change.Value{}, errors.New("not valid JSON")
		}
		return change.JSON(s), nil
	case kind == change.KindJSON && (v.Kind == change.KindInt || v.Kind == change.KindFloat || v.Kind == change.KindBool):
		return change.JSON(s), nil
	case kind == change.KindJSON && v.Kind == change.KindArray:
		b, err := json.Marshal(goValue(v))
		return change.JSON(string(b)), err
	case kind == change.KindUUID && v.Kind == change.KindText:
		return parseUUID(s)
	case kind == change.KindTime && v.Kind == change.KindText:
		return parseTimeOfDay(s)
	case kind == change.KindTime && v.Kind == change.KindTimestamp:
		return change.TimeOfDay(v.AsTime().Format(timeOfDayLayout)), nil
	case kind == change.KindDate && v.Kind == change.KindTimestamp:
		return change.Date(v.AsTime()), nil
	case kind == change.KindBytes && v.Kind == change.KindText:
		return change.Bytes([]byte(s)), nil
	case v.Kind == change.KindText:
		// int, float, bool, decimal, timestamp, date: the canonical parser
		// of the kind decides, and its error says why.
		return change.Parse(kind, strings.TrimSpace(s))
	}
	return change.Value{}, errors.New("no exact conversion")
}

const timeOfDayLayout = "15:04:05.999999"

func parseTimeOfDay(s string) (change.Value, error) {
	for _, l := range []string{"15:04:05.999999999", "15:04"} {
		if t, err := time.Parse(l, strings.TrimSpace(s)); err == nil {
			return change.TimeOfDay(t.Format(timeOfDayLayout)), nil
		}
	}
	return change.Value{}, errors.New("not a time of day (15:04:05)")
}

// parseUUID accepts the canonical 8-4-4-4-12 form and 32 bare hex digits.
func parseUUID(s string) (change.Value, error) {
	s = strings.TrimSpace(s)
	if len(s) == 32 {
		s = s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
	}
	if len(s) != 36 {
		return change.Value{}, errors.New("not a UUID")
	}
	for i, r := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if r != '-' {
				return change.Value{}, errors.New("not a UUID")
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return change.Value{}, errors.New("not a UUID")
		}
	}
	return change.UUID(s), nil
}

// short quotes a value for an error message without flooding it.
func short(v change.Value) string {
	s := v.String()
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}
