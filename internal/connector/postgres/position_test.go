package postgres

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pglogrepl"

	"github.com/syncbridge/syncbridge/internal/change"
)

// TestPositionGolden proves that positions written by every released
// version still parse to the same LSN.
func TestPositionGolden(t *testing.T) {
	f, err := os.Open("testdata/positions.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		enc, lsnText, _ := strings.Cut(line, " ")
		want, err := strconv.ParseUint(lsnText, 10, 64)
		if err != nil {
			t.Fatalf("golden line %q: %v", line, err)
		}
		p, err := ParsePosition(change.Position(enc))
		if err != nil {
			t.Errorf("parse %q: %v", enc, err)
			continue
		}
		if uint64(p.LSN) != want {
			t.Errorf("parse %q = %d, want %d", enc, p.LSN, want)
		}
		if got := string(p.Bytes()); got != enc {
			t.Errorf("re-encode %q = %q", enc, got)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no golden positions read")
	}
}

func TestParsePositionRejects(t *testing.T) {
	for _, s := range []string{"", "0/16B3748", "pg-lsn:v2:0/1", "pg-lsn:v1:", "pg-lsn:v1:zz", "poll:v1:[]"} {
		if _, err := ParsePosition(change.Position(s)); err == nil {
			t.Errorf("ParsePosition(%q) succeeded", s)
		}
	}
}

func TestComparePositions(t *testing.T) {
	a := Position{LSN: 0x16B3748}.Bytes()
	b := Position{LSN: 0x1_0000_0000}.Bytes()
	for _, tc := range []struct {
		x, y change.Position
		want int
	}{{a, b, -1}, {b, a, 1}, {a, a, 0}} {
		if got, err := comparePositions(tc.x, tc.y); err != nil || got != tc.want {
			t.Errorf("compare(%s, %s) = %d, %v; want %d", tc.x, tc.y, got, err, tc.want)
		}
	}
	// Text order differs from LSN order: "A/0" > "10/0" as text.
	if c, _ := comparePositions(Position{LSN: pglogrepl.LSN(0xA) << 32}.Bytes(), Position{LSN: pglogrepl.LSN(0x10) << 32}.Bytes()); c != -1 {
		t.Errorf("A/0 vs 10/0 = %d, want -1", c)
	}
}

func TestObjectName(t *testing.T) {
	long := strings.Repeat("x", 80)
	for _, tc := range []struct{ flow, want string }{
		{"customers", "syncbridge_customers"},
		{"cust_2", "syncbridge_cust_2"},
	} {
		if got := ObjectName(tc.flow); got != tc.want {
			t.Errorf("ObjectName(%q) = %q, want %q", tc.flow, got, tc.want)
		}
	}
	seen := map[string]string{}
	for _, flow := range []string{"Customers", "customers-eu", "customers_eu", "a b", "a-b", "ünï", long, long + "y"} {
		got := ObjectName(flow)
		if len(got) > 63 {
			t.Errorf("ObjectName(%q) = %q: %d bytes", flow, got, len(got))
		}
		for _, r := range got {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				t.Errorf("ObjectName(%q) = %q: bad character %q", flow, got, r)
			}
		}
		if other, dup := seen[got]; dup {
			t.Errorf("flows %q and %q share %q", other, flow, got)
		}
		seen[got] = flow
	}
}

// TestLogPositionGolden proves that trigger-capture positions written by
// every released version still parse to the same log id.
func TestLogPositionGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/log_positions.golden")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		enc, idText, _ := strings.Cut(line, " ")
		want, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			t.Fatalf("golden line %q: %v", line, err)
		}
		p, err := parseLogPosition(change.Position(enc))
		if err != nil || int64(p) != want || string(p.Bytes()) != enc {
			t.Errorf("parse %q = %d (%v), want %d and the same text back", enc, p, err, want)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no golden positions read")
	}
	for _, s := range []string{"", "pg-log:v1:", "pg-log:v1:-1", "pg-log:v2:1", "pg-lsn:v1:0/1"} {
		if _, err := parseLogPosition(change.Position(s)); err == nil {
			t.Errorf("parseLogPosition(%q) succeeded", s)
		}
	}
}
