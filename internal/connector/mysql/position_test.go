package mysql

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
)

// TestPositionGolden proves that positions written by every released
// version still parse to the same place and re-encode unchanged.
func TestPositionGolden(t *testing.T) {
	f, err := os.Open("testdata/positions.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 4)
		var want Position
		switch {
		case len(f) >= 3 && f[1] == "gtid":
			want = Position{GTID: true, Set: f[2]}
		case len(f) == 4 && f[1] == "file":
			off, err := strconv.ParseUint(f[3], 10, 32)
			if err != nil {
				t.Fatalf("golden line %q: %v", line, err)
			}
			want = Position{File: f[2], Offset: uint32(off)}
		case len(f) == 3 && f[1] == "log":
			id, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				t.Fatalf("golden line %q: %v", line, err)
			}
			want = logPosition(id)
		default:
			t.Fatalf("golden line %q: want <encoding> gtid <set> | file <name> <offset> | log <id>", line)
		}
		p, err := ParsePosition(change.Position(f[0]))
		if err != nil {
			t.Errorf("parse %q: %v", f[0], err)
			continue
		}
		if p != want {
			t.Errorf("parse %q = %+v, want %+v", f[0], p, want)
		}
		if got := string(p.Bytes()); got != f[0] {
			t.Errorf("re-encode %q = %q", f[0], got)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no golden positions read")
	}
}

func TestParsePositionRejects(t *testing.T) {
	for _, s := range []string{"", "0-1-2", "mysql-gtid:v2:0-1-2", "mysql-gtid:v1:0-1", "mysql-gtid:v1:x-1-2",
		"mysql-file:v1:", "mysql-file:v1:bin.000001", "mysql-file:v1:bin.000001:x", "pg-lsn:v1:0/1",
		"mysql-log:v1:", "mysql-log:v1:-1", "mysql-log:v1:x", "mysql-log:v1:007", "mysql-log:v2:1"} {
		if _, err := ParsePosition(change.Position(s)); err == nil {
			t.Errorf("ParsePosition(%q) succeeded", s)
		}
	}
}

func TestComparePositions(t *testing.T) {
	const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	tests := []struct {
		a, b string
		want int
		err  bool
	}{
		{"mysql-gtid:v1:0-1-5", "mysql-gtid:v1:0-1-5", 0, false},
		{"mysql-gtid:v1:0-1-5", "mysql-gtid:v1:0-1-6", -1, false},
		{"mysql-gtid:v1:0-1-10", "mysql-gtid:v1:0-1-9", 1, false},
		{"mysql-gtid:v1:", "mysql-gtid:v1:0-1-1", -1, false},
		{"mysql-gtid:v1:0-1-5", "mysql-gtid:v1:0-2-6", -1, false}, // a new primary in the same domain
		{"mysql-gtid:v1:0-1-5,1-1-3", "mysql-gtid:v1:0-1-5,1-1-4", -1, false},
		{"mysql-gtid:v1:0-1-5", "mysql-gtid:v1:0-1-5,1-1-1", -1, false},
		{"mysql-gtid:v1:0-1-6,1-1-3", "mysql-gtid:v1:0-1-5,1-1-4", 0, true}, // diverged
		{"mysql-gtid:v1:" + uuid + ":1-5", "mysql-gtid:v1:" + uuid + ":1-7", -1, false},
		{"mysql-gtid:v1:" + uuid + ":1-7", "mysql-gtid:v1:" + uuid + ":1-5", 1, false},
		{"mysql-gtid:v1:", "mysql-gtid:v1:" + uuid + ":1-5", -1, false},
		{"mysql-file:v1:bin.000002:4", "mysql-file:v1:bin.000010:4", -1, false}, // by index, not text
		{"mysql-file:v1:bin.000002:900", "mysql-file:v1:bin.000002:1200", -1, false},
		{"mysql-file:v1:bin.000002:900", "mysql-file:v1:bin.000002:900", 0, false},
		{"mysql-file:v1:bin.000002:900", "mysql-gtid:v1:0-1-5", 0, true},
		{"mysql-log:v1:9", "mysql-log:v1:10", -1, false}, // by number, not text
		{"mysql-log:v1:10", "mysql-log:v1:10", 0, false},
		{"mysql-log:v1:10", "mysql-log:v1:2", 1, false},
		{"mysql-log:v1:10", "mysql-gtid:v1:0-1-5", 0, true},
		{"mysql-file:v1:bin.000002:900", "mysql-log:v1:10", 0, true},
	}
	for _, tt := range tests {
		got, err := comparePositions(change.Position(tt.a), change.Position(tt.b))
		if tt.err {
			if !errors.Is(err, errIncomparable) {
				t.Errorf("compare(%s, %s) = %d, %v; want errIncomparable", tt.a, tt.b, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("compare(%s, %s) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
}

func TestServerIDRange(t *testing.T) {
	for _, flow := range []string{"", "customers", "orders", strings.Repeat("x", 300)} {
		id := ServerID(flow)
		if id < 1<<31 || id >= 1<<31+1<<30 {
			t.Errorf("ServerID(%q) = %d, outside [2^31, 2^31+2^30)", flow, id)
		}
		if id != ServerID(flow) {
			t.Errorf("ServerID(%q) is not stable", flow)
		}
	}
	if ServerID("customers") == ServerID("orders") {
		t.Error("two flows share a server id")
	}
}

func TestParseElems(t *testing.T) {
	got := parseElems("enum('a','b''c','d,e','')")
	want := []string{"a", "b'c", "d,e", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
		t.Errorf("parseElems = %q, want %q", got, want)
	}
}

func TestQuoteIdent(t *testing.T) {
	if got := quoteIdent("we`ird"); got != "`we``ird`" {
		t.Errorf("quoteIdent = %s", got)
	}
}

func TestSplitTable(t *testing.T) {
	s := &Store{defaultDB: "app"}
	for in, want := range map[string]string{
		"t": "app|t", "db.t": "db|t", `"odd.name"`: "app|odd.name", `db."we""ird"`: `db|we"ird`,
	} {
		if db, n := s.splitTable(in); db+"|"+n != want {
			t.Errorf("splitTable(%s) = %s|%s, want %s", in, db, n, want)
		}
	}
	if got := s.quoteTable("db.we`ird"); got != "`db`.`we``ird`" {
		t.Errorf("quoteTable = %s", got)
	}
}
