package postgres

import (
	"strconv"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
)

// decodeTextBytes is decodeText for text in a buffer the caller reuses
// (pgoutput tuples). Kinds whose Value keeps no text (integers, booleans,
// floats, timestamps, dates) are parsed straight from the bytes, without
// the string each value would otherwise cost; everything else, and any
// text these fast paths do not recognise, goes through decodeText.
func decodeTextBytes(t *pgType, b []byte) (change.Value, error) {
	switch t.kind {
	case change.KindInt:
		// string(b) does not escape ParseInt: no allocation.
		if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return change.Int(i), nil
		}
	case change.KindFloat:
		if f, err := strconv.ParseFloat(string(b), 64); err == nil {
			return change.Float(f), nil
		}
	case change.KindBool:
		if len(b) == 1 && (b[0] == 't' || b[0] == 'f') {
			return change.Bool(b[0] == 't'), nil
		}
	case change.KindTimestamp:
		if ts, ok := parseTimestampBytes(b); ok {
			return change.Timestamp(ts), nil
		}
	case change.KindDate:
		if len(b) == 10 {
			if y, m, d, ok := parseDateBytes(b); ok {
				return change.Date(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)), nil
			}
		}
	}
	return decodeText(t, string(b))
}

// parseTimestampBytes reads what parseTimestamp reads, ISO output
// "2024-01-02 03:04:05[.123456][+05[:30[:12]]]", and reports false for
// anything else (infinity, BC, years past 9999), which parseTimestamp then
// handles.
func parseTimestampBytes(b []byte) (time.Time, bool) {
	if len(b) < 19 || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	y, mo, d, ok := parseDateBytes(b[:10])
	h, ok1 := digits(b[11:13])
	mi, ok2 := digits(b[14:16])
	s, ok3 := digits(b[17:19])
	if !ok || !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for ; i < len(rest) && i <= 9 && rest[i] >= '0' && rest[i] <= '9'; i++ {
			nsec = nsec*10 + int(rest[i]-'0')
		}
		if i == 1 {
			return time.Time{}, false
		}
		for k := i; k <= 9; k++ {
			nsec *= 10
		}
		rest = rest[i:]
	}
	offset := 0
	if len(rest) > 0 {
		sign := 1
		switch rest[0] {
		case '+':
		case '-':
			sign = -1
		default:
			return time.Time{}, false
		}
		rest = rest[1:]
		for unit := 3600; unit >= 1; unit /= 60 {
			if len(rest) < 2 {
				return time.Time{}, false
			}
			v, ok := digits(rest[:2])
			if !ok {
				return time.Time{}, false
			}
			offset += v * unit
			rest = rest[2:]
			if len(rest) == 0 {
				break
			}
			if rest[0] != ':' || unit == 1 {
				return time.Time{}, false
			}
			rest = rest[1:]
		}
		offset *= sign
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, nsec, time.UTC).Add(-time.Duration(offset) * time.Second), true
}

// parseDateBytes reads "YYYY-MM-DD".
func parseDateBytes(b []byte) (y, m, d int, ok bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := digits(b[0:4])
	m, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
