package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDiffEverySQLPair runs diff and diff --repair on flows between every
// pair of SQL drivers not covered by the SQLite-only diff tests: drift is
// injected on the target (a changed column, a deleted row, an extra row),
// diff must list exactly it and exit 1, repair must fix it, and a second
// diff must exit 0.
func TestDiffEverySQLPair(t *testing.T) {
	for _, pair := range [][2]string{
		{"mysql", "postgres"}, {"postgres", "mysql"}, {"mysql", "sqlite"}, {"sqlite", "mysql"},
		{"postgres", "sqlite"}, {"sqlite", "postgres"}, {"postgres", "postgres"}, {"mysql", "mysql"},
	} {
		t.Run(pair[0]+"_to_"+pair[1], func(t *testing.T) {
			e := newMyFlow(t, pair[0], pair[1], 100)
			insertAny(e, 1, 200)
			e.mustRun("run", "--once")
			if code, out := e.run("diff", "--format", "json"); code != ExitOK {
				t.Fatalf("diff of equal stores: exit %d\n%s", code, out)
			}
			e.exec(e.dst, `UPDATE items SET name = 'drifted' WHERE id = 10`)
			e.exec(e.dst, `DELETE FROM items WHERE id = 20`)
			e.exec(e.dst, `INSERT INTO items (id, name) VALUES (99999, 'extra')`)
			code, out := e.run("diff", "--format", "json", "--recheck", "10ms")
			if code != ExitFailed {
				t.Fatalf("diff with drift: exit %d, want 1\n%s", code, out)
			}
			var rep struct {
				Flows []struct {
					Missing   []json.RawMessage `json:"missing"`
					Extra     []json.RawMessage `json:"extra"`
					Different []struct {
						Columns []string `json:"columns"`
					} `json:"different"`
				} `json:"flows"`
			}
			if err := json.NewDecoder(strings.NewReader(out[indexJSON(out):])).Decode(&rep); err != nil {
				t.Fatalf("diff json: %v\n%s", err, out)
			}
			f := rep.Flows[0]
			if len(f.Missing) != 1 || len(f.Extra) != 1 || len(f.Different) != 1 ||
				len(f.Different[0].Columns) != 1 || f.Different[0].Columns[0] != "name" {
				t.Fatalf("want 1 missing, 1 extra, 1 different in name; got %s", out)
			}
			e.mustRun("diff", "--repair", "--recheck", "10ms")
			if code, out := e.run("diff", "--recheck", "10ms"); code != ExitOK {
				t.Fatalf("diff after repair: exit %d\n%s", code, out)
			}
		})
	}
}

// indexJSON finds where the JSON document starts in combined output (log
// lines may precede it).
func indexJSON(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '{' && (i == 0 || s[i-1] == '\n') {
			return i
		}
	}
	return 0
}
