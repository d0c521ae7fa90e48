package reconcile_test

import (
	"errors"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/reconcile"
)

const matrixSchema = `
CREATE TYPE mood AS ENUM ('one', 'two');
CREATE TABLE m (id int PRIMARY KEY, b boolean, i2 smallint, i4 integer, i8 bigint, n numeric(12,3), nu numeric,
	f4 real, f8 double precision, t text, vc varchar(20), c char(6), by bytea, ts timestamp, tz timestamptz,
	d date, tm time, tt timetz, j json, jb jsonb, u uuid, iv interval, e mood, ip inet);
INSERT INTO m VALUES
 (1, true, -32768, 42, 9007199254740993, -12.500, 1234567890.123456789, 0.1, 1e15, E'h\u00e9llo | back\\slash 世界', 'abc', 'ab',
  '\x00ff10', '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05.5+02', '2026-01-02', '15:04:05.120', '15:04:05.5+02',
  '{"b": [1, 2.50, 1e2], "a": "x\u00e9\n", "aa": null, "b": true}', '{"z": {"y": -0, "x": 1E-3}, "a": "\"q\""}',
  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '1 day 02:03:04', 'two', '10.0.0.1/8'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, false, 0, -1, 0, 0.000, 'NaN', '-0', 1.5e-5, '', '', '', '\x', '2026-01-02 03:04:05', 'infinity', '-infinity',
  '00:00:00', '00:00:00+00', '[]', '{}', '00000000-0000-0000-0000-000000000000', '0', 'one', '::1'),
 (4, true, 7, 100, -5, 100, -0.5e-3, 1234567, 123456789012345.6, 'NULL', '\N', 'x  y', '\x5c7c', '10000-01-01 00:00:00',
  '0044-03-15 12:00:00+00 BC', '10000-01-01', '23:59:59.999999', '23:59:59.999999-05:30', '"str"', '123.4500', NULL, '-1 mons', NULL, NULL),
 (5, false, 1, 0, 1, 0.001, 'Infinity', '-Infinity', 'Infinity', E'tab\there\\|', 'Z', ' ', NULL, '0001-01-01 00:00:00',
  '1999-12-31 23:59:59.999999-01', '0001-01-01', '12:00', '12:00:00.000001+14', '{"k":"\u001f","kk":[{},[]]}',
  '[1.0, -1e-2, 0.0e5, 1e-7, 12345678901234567890]', NULL, NULL, NULL, NULL),
 (6, true, 2, 3, 4, -0.010, 0.1e1, 1.5e-7, -1.7976931348623157e308, 'ümlaut', NULL, NULL, NULL, '2000-02-29 12:00:00.000001',
  '2000-02-29 12:00:00.000001+00', '2000-02-29', NULL, NULL, '1e400', 'false', NULL, NULL, NULL, NULL)`

// matrixCases: each column normalized as each target kind a flow may give
// it (its own kind, and the kinds of the columns other engines hold it in).
var matrixCases = map[string][]change.Kind{
	"b":  {change.KindBool, change.KindInt, change.KindDecimal, change.KindText},
	"i2": {change.KindInt, change.KindDecimal, change.KindBool, change.KindFloat, change.KindText},
	"i4": {change.KindInt, change.KindDecimal, change.KindBool, change.KindFloat, change.KindJSON, change.KindText},
	"i8": {change.KindInt, change.KindDecimal, change.KindFloat, change.KindText},
	"n":  {change.KindDecimal, change.KindInt, change.KindBool, change.KindFloat, change.KindText},
	"nu": {change.KindDecimal, change.KindInt, change.KindBool, change.KindFloat, change.KindText},
	"f4": {change.KindFloat, change.KindDecimal, change.KindInt},
	"f8": {change.KindFloat, change.KindDecimal, change.KindInt},
	"t":  {change.KindText, change.KindUUID},
	"vc": {change.KindText},
	"c":  {change.KindText},
	"by": {change.KindBytes, change.KindText},
	"ts": {change.KindTimestamp, change.KindDate, change.KindText},
	"tz": {change.KindTimestamp, change.KindDate, change.KindText},
	"d":  {change.KindDate, change.KindTimestamp, change.KindText},
	"tm": {change.KindTime, change.KindText},
	"tt": {change.KindTime, change.KindText},
	"j":  {change.KindJSON, change.KindText},
	"jb": {change.KindJSON, change.KindText},
	"u":  {change.KindUUID, change.KindText},
	"iv": {change.KindText, change.KindUnknown},
	"e":  {change.KindText},
	"ip": {change.KindUnknown, change.KindText},
}

// TestPostgresChecksumMatchesRowHash: PostgreSQL's in-database checksum of
// each row equals the hash reconcile computes in Go from the row the driver
// scans, for every column type and target kind, edge values included.
func TestPostgresChecksumMatchesRowHash(t *testing.T) {
	db := newPG(t)
	db.exec(matrixSchema)
	st := db.open()
	ctx := t.Context()
	rows, err := st.Scan(ctx, connector.ScanRequest{Table: "m", Key: []string{"id"}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var all []connector.ChecksumColumn
	for col, kinds := range matrixCases {
		for _, k := range kinds {
			cc := []connector.ChecksumColumn{{Name: col, Kind: k, TrimSpace: col == "c"}}
			all = append(all, cc[0])
			t.Run(col+"_as_"+k.String(), func(t *testing.T) { checkRows(t, st, rows, cc) })
		}
	}
	t.Run("every_column", func(t *testing.T) { checkRows(t, st, rows, all) })

	_, err = st.Checksum(ctx, connector.ChecksumRequest{Table: "m", Key: []string{"id"},
		Columns: []connector.ChecksumColumn{{Name: "t", Kind: change.KindDecimal}}})
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("text normalized as decimal: err = %v, want ErrUnsupported", err)
	}
}

// checkRows compares, row by row and then for the whole table, the
// database's checksum with the one computed from the scanned rows.
func checkRows(t *testing.T, st connector.Checksummer, rows []change.Row, cols []connector.ChecksumColumn) {
	t.Helper()
	var want connector.Checksum
	for _, r := range rows {
		id := r["id"].AsInt()
		text := reconcile.RowText(r, cols)
		one := connector.Checksum{Count: 1, Sum: reconcile.RowHash(text)}
		want = want.Add(one)
		got, err := st.Checksum(t.Context(), connector.ChecksumRequest{Table: "m", Key: []string{"id"}, Columns: cols,
			After: change.Key{change.Int(id - 1)}, Until: change.Key{change.Int(id)}})
		if err != nil {
			t.Fatal(err)
		}
		if got != one {
			t.Errorf("row %d: database checksum differs from the hash of %q", id, text)
		}
	}
	got, err := st.Checksum(t.Context(), connector.ChecksumRequest{Table: "m", Key: []string{"id"}, Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("table: got %+v, want %+v", got, want)
	}
}

// TestPostgresSegments: split keys cut a range evenly, segment checksums
// add up to the range's, and a composite text key works.
func TestPostgresSegments(t *testing.T) {
	db := newPG(t)
	db.exec(`CREATE TABLE s (a text COLLATE "C", b int, v text, PRIMARY KEY (a, b));
		INSERT INTO s SELECT chr(97 + i % 5), i, 'v' || i FROM generate_series(1, 1000) i`)
	st := db.open()
	ctx := t.Context()
	req := connector.ChecksumRequest{Table: "s", Key: []string{"a", "b"},
		Columns: []connector.ChecksumColumn{{Name: "a", Kind: change.KindText}, {Name: "b", Kind: change.KindInt}, {Name: "v", Kind: change.KindText}}}
	whole, err := st.Checksum(ctx, req)
	if err != nil || whole.Count != 1000 {
		t.Fatalf("whole: %+v, %v", whole, err)
	}
	keys, err := st.SplitKeys(ctx, req, whole.Count, 8)
	if err != nil || len(keys) != 7 {
		t.Fatalf("split: %v, %v", keys, err)
	}
	sums, err := st.ChecksumSegments(ctx, req, keys)
	if err != nil || len(sums) != 8 {
		t.Fatalf("segments: %v, %v", sums, err)
	}
	var total connector.Checksum
	for i, s := range sums {
		if s.Count != 125 {
			t.Errorf("segment %d holds %d rows, want 125", i, s.Count)
		}
		total = total.Add(s)
	}
	if total != whole {
		t.Errorf("segments add up to %+v, want %+v", total, whole)
	}
	// A sub-range split again, bounded on both sides.
	sub := req
	sub.After, sub.Until = keys[2], keys[4]
	inner, err := st.SplitKeys(ctx, sub, 250, 2)
	if err != nil || len(inner) != 1 {
		t.Fatalf("inner split: %v, %v", inner, err)
	}
	two, err := st.ChecksumSegments(ctx, sub, inner)
	if err != nil || two[0].Add(two[1]) != sums[3].Add(sums[4]) {
		t.Fatalf("inner segments %+v, want the sum of %+v and %+v (%v)", two, sums[3], sums[4], err)
	}
}
