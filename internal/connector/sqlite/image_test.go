package sqlite

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"unicode/utf8"
)

func collect(t testing.TB, parse func(string, func(string, any) error) error, js string) (map[string]any, error) {
	out := map[string]any{}
	err := parse(js, func(name string, raw any) error {
		if _, dup := out[name]; dup {
			return fmt.Errorf("member %q twice", name)
		}
		out[name] = raw
		return nil
	})
	return out, err
}

// TestParseImageMatchesEncodingJSON: images SQLite itself writes, with every
// storage class and awkward text, decode the same by the fast parser as by
// encoding/json, and to the values stored.
func TestParseImageMatchesEncodingJSON(t *testing.T) {
	h := newHarness(t, "")
	var js string
	err := h.app.QueryRow(`SELECT json_object(
		'int', 9223372036854775807, 'neg', -9223372036854775808, 'zero', 0,
		'real', 0.1, 'tiny', 5e-324, 'huge', 1e300, 'third', 1.0/3, 'whole', 12.0,
		'text', 'plain', 'empty', '', 'esc', 'q"b\' || char(10) || char(9) || char(1) || '/',
		'uni', 'naïve ✓ 😀', 'null', NULL,
		'blob', json_array('x', hex(x'00ff10')), 'eblob', json_array('x', hex(x'')),
		'we"ird key', 1, '', 2)`).Scan(&js)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := collect(t, parseImage, js)
	if err != nil {
		t.Fatalf("parseImage(%s): %v", js, err)
	}
	slow, err := collect(t, parseImageSlow, js)
	if err != nil {
		t.Fatalf("parseImageSlow(%s): %v", js, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Errorf("fast and slow differ:\nfast %#v\nslow %#v", fast, slow)
	}
	want := map[string]any{
		"int": int64(math.MaxInt64), "neg": int64(math.MinInt64), "zero": int64(0),
		"real": 0.1, "tiny": 5e-324, "huge": 1e300, "third": 1.0 / 3, "whole": 12.0,
		"text": "plain", "empty": "", "esc": "q\"b\\\n\t\x01/", "uni": "naïve ✓ 😀", "null": nil,
		"blob": []byte{0, 0xff, 0x10}, "eblob": []byte{}, `we"ird key`: int64(1), "": int64(2),
	}
	if !reflect.DeepEqual(fast, want) {
		t.Errorf("decoded %#v\nwant %#v", fast, want)
	}
}

// TestParseImageFallsBack: shapes the fast parser does not know go to
// encoding/json; broken JSON is an error either way.
func TestParseImageFallsBack(t *testing.T) {
	got, err := collect(t, parseImage, ` { "a" : [ "x" , "0A" ] , "b": 1.5E2 } `)
	if err != nil || !reflect.DeepEqual(got, map[string]any{"a": []byte{10}, "b": 150.0}) {
		t.Errorf("spaced image = %#v, %v", got, err)
	}
	for _, bad := range []string{``, `{`, `{"a":}`, `{"a":1,}`, `{"a":{"b":1}}`, `{"a":["y","00"]}`, `[1]`, `{"a":1} x`, `{"a":["x","zz"]}`} {
		if got, err := collect(t, parseImage, bad); err == nil {
			t.Errorf("parseImage(%q) = %v, want an error", bad, got)
		}
	}
}

// FuzzParseImage: whenever both parsers accept an input they agree. (On
// invalid UTF-8 they differ on purpose: encoding/json substitutes U+FFFD,
// the fast parser keeps the bytes SQLite stored.)
func FuzzParseImage(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x","c":null,"d":["x","00"]}`, `{"a\u0041":"\ud83d\ude00"}`, `{"a":-0.0,"b":1e5}`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, js string) {
		if !utf8.ValidString(js) {
			return
		}
		fast, ferr := collect(t, parseImage, js)
		slow, serr := collect(t, parseImageSlow, js)
		if ferr == nil && serr == nil && !reflect.DeepEqual(fast, slow) {
			t.Errorf("%q: fast %#v, slow %#v", js, fast, slow)
		}
	})
}
