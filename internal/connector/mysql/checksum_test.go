package mysql_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/mysql"
	"github.com/syncbridge/syncbridge/internal/reconcile"
)

// checksumDDL holds every MySQL type the checksum has an SQL form for, and
// the rows hold their edge values: NULL, the empty string, '\' and '|', trailing zeros
// and spaces, zero, negatives, the extremes of BIGINT UNSIGNED, years 0
// and 1000, microseconds, latin1 text, long blobs (TO_BASE64 wraps lines).
const checksumDDL = `CREATE TABLE ck (
	id BIGINT PRIMARY KEY, i INT, u BIGINT UNSIGNED, ti TINYINT, b TINYINT(1), y YEAR,
	dec2 DECIMAL(12,2), dec0 DECIMAL(10,0), dec4 DECIMAL(20,6),
	txt TEXT, vc VARCHAR(40), ch CHAR(6), l1 VARCHAR(20) CHARACTER SET latin1,
	en ENUM('a','b|c','d\\e'), st SET('x','y','z'),
	bl BLOB, vb VARBINARY(64),
	d DATE, dt DATETIME(6), dt0 DATETIME, ts TIMESTAMP(6) NULL, tm TIME(6), tm0 TIME,
	j JSON)`

var checksumRows = []string{
	`(1, 1, 1, 1, 1, 2024, 1.50, 10, 0.000100, 'plain', 'v', 'ab', 'café', 'a', 'x,z', X'00FF', X'0102',
	  '2024-02-29', '2024-05-06 07:08:09.123456', '2024-05-06 07:08:09', '2024-05-06 07:08:09.000001', '12:34:56.500000', '-01:02:03', '{"b": 1, "a": [1, 2.50]}')`,
	`(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
	`(3, 0, 0, -128, 0, 0, 0.00, 0, -0.000000, '', '', '', '', 'b|c', '', X'', X'',
	  '1000-01-01', '1000-01-01 00:00:00.000000', '9999-12-31 23:59:59', '1970-01-01 00:00:01', '00:00:00', '838:59:59', '[]')`,
	`(4, -2147483648, 18446744073709551615, 127, 0, 1901, -1234567890.10, -9999999999, 123456.789000, 'a\\b|c\\\\|', 'x|y', 'a b  ', 'ÿ', 'd\\e', 'x,y,z', REPEAT(X'ABCDEF', 100), X'5C7C',
	  '2000-01-01', '1999-12-31 23:59:59.999999', '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999', '-838:59:59.000000', '10:00:00', '"s\\\\t"')`,
	`(5, 7, 9223372036854775808, 5, 1, 2155, 99.99, 1, 0.5, REPEAT('long text ', 50), 'trailing  ', 'x', 'plain', NULL, 'y', NULL, NULL,
	  '0001-01-01', '2024-01-01 00:00:00.100000', '2024-01-01 00:00:00', NULL, '12:00:00.000100', NULL, 'null')`,
}

// checksumCase is one column checksummed as one target kind.
type checksumCase struct {
	col  string
	kind change.Kind
	trim bool
}

// TestChecksumMatchesRowHash proves the SQL row text equals
// reconcile.RowText byte for byte: for each column and each target kind it
// has an SQL form for, the in-database checksum equals the sum of
// reconcile.RowHash over the rows as Scan reads them; kinds without an SQL
// form fail with errors.ErrUnsupported.
func TestChecksumMatchesRowHash(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(checksumDDL)
	for _, r := range checksumRows {
		e.exec("INSERT INTO ck VALUES " + r)
	}
	st := e.store.(*mysql.Store)
	var cases []checksumCase
	for _, c := range []string{"i", "u", "ti", "b", "y", "dec2", "dec0", "dec4", "txt", "vc", "l1", "en", "st", "bl", "vb",
		"d", "dt", "dt0", "ts", "tm", "tm0", "j"} {
		for _, k := range []change.Kind{change.KindInt, change.KindDecimal, change.KindBool, change.KindText,
			change.KindTimestamp, change.KindDate, change.KindTime, change.KindBytes, change.KindUUID} {
			cases = append(cases, checksumCase{col: c, kind: k})
		}
	}
	cases = append(cases, checksumCase{col: "ch", kind: change.KindText, trim: true},
		checksumCase{col: "vc", kind: change.KindText, trim: true})
	supported := 0
	for _, tc := range cases {
		cols := []connector.ChecksumColumn{{Name: "id", Kind: change.KindInt}, {Name: tc.col, Kind: tc.kind, TrimSpace: tc.trim}}
		req := connector.ChecksumRequest{Table: "ck", Key: []string{"id"}, Columns: cols}
		got, err := st.Checksum(ctx, req)
		if errors.Is(err, errors.ErrUnsupported) {
			continue
		}
		if err != nil {
			t.Errorf("%s as %s: %v", tc.col, tc.kind, err)
			continue
		}
		supported++
		rows, err := st.Scan(ctx, connector.ScanRequest{Table: "ck", Key: []string{"id"}, Columns: []string{"id", tc.col}, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var want connector.Checksum
		for _, r := range rows {
			want = want.Add(connector.Checksum{Count: 1, Sum: reconcile.RowHash(reconcile.RowText(r, cols))})
		}
		if got != want {
			var texts []string
			for _, r := range rows {
				texts = append(texts, reconcile.RowText(r, cols))
			}
			t.Errorf("%s as %s (trim %v): database %+v, Go %+v; Go row texts %q", tc.col, tc.kind, tc.trim, got, want, texts)
		}
	}
	if supported < 60 {
		t.Errorf("only %d column/kind pairs have an SQL form", supported)
	}
	for _, k := range []change.Kind{change.KindFloat, change.KindJSON} {
		_, err := st.Checksum(ctx, connector.ChecksumRequest{Table: "ck", Key: []string{"id"},
			Columns: []connector.ChecksumColumn{{Name: "txt", Kind: k}}})
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("txt as %s: %v; want errors.ErrUnsupported", k, err)
		}
	}
}

// TestChecksumSegments: segments add up to the whole, each equals the
// checksum of its range, and bounds come in any kind the key encodes from.
func TestChecksumSegments(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE sg (a INT, b VARCHAR(10), v TEXT, PRIMARY KEY (a, b))")
	for i := 1; i <= 300; i++ {
		e.exec(fmt.Sprintf("INSERT INTO sg VALUES (%d, 'k%03d', 'v%d')", i/10, i, i))
	}
	st := e.store.(*mysql.Store)
	cols := []connector.ChecksumColumn{{Name: "a", Kind: change.KindInt}, {Name: "b", Kind: change.KindText}, {Name: "v", Kind: change.KindText}}
	req := connector.ChecksumRequest{Table: "sg", Key: []string{"a", "b"}, Columns: cols}
	whole, err := st.Checksum(ctx, req)
	if err != nil || whole.Count != 300 {
		t.Fatalf("whole: %+v, %v", whole, err)
	}
	keys, err := st.SplitKeys(ctx, req, 300, 7)
	if err != nil || len(keys) != 6 {
		t.Fatalf("split: %v, %v; want 6 keys", keys, err)
	}
	sums, err := st.ChecksumSegments(ctx, req, keys)
	if err != nil || len(sums) != 7 {
		t.Fatalf("segments: %v, %v", sums, err)
	}
	var total connector.Checksum
	for i, s := range sums {
		total = total.Add(s)
		r := req
		if i > 0 {
			r.After = keys[i-1]
		}
		if i < len(keys) {
			r.Until = keys[i]
		}
		one, err := st.Checksum(ctx, r)
		if err != nil || one != s {
			t.Errorf("segment %d: %+v, its range alone %+v (%v)", i, s, one, err)
		}
		if s.Count < 40 || s.Count > 46 {
			t.Errorf("segment %d holds %d rows; want about 300/7", i, s.Count)
		}
	}
	if total != whole {
		t.Errorf("segments add up to %+v, whole is %+v", total, whole)
	}
	// An integer key is cut by value; bounds given as text (another
	// store's key) bind as the column's type.
	e.exec("CREATE TABLE si (id BIGINT UNSIGNED PRIMARY KEY, v TEXT)", "INSERT INTO si SELECT seq, seq FROM seq_1_to_1000")
	ireq := connector.ChecksumRequest{Table: "si", Key: []string{"id"}, Columns: []connector.ChecksumColumn{{Name: "v", Kind: change.KindText}}}
	ikeys, err := st.SplitKeys(ctx, ireq, 0, 4)
	if err != nil || len(ikeys) != 3 {
		t.Fatalf("split by value: %v, %v", ikeys, err)
	}
	isums, err := st.ChecksumSegments(ctx, ireq, []change.Key{{change.Text("250")}, {change.Int(500)}})
	if err != nil || len(isums) != 3 || isums[0].Count != 250 || isums[1].Count != 250 || isums[2].Count != 500 {
		t.Errorf("segments at 250, 500: %+v, %v", isums, err)
	}
}
