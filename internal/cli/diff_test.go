package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDiffExitCodesAndRepair(t *testing.T) {
	e := newEnv(t, 100)
	e.insertCustomers(1, 500)
	if code, out := e.run("run", "--once", "--no-progress"); code != 0 {
		t.Fatalf("run --once: exit %d\n%s", code, out)
	}
	if code, out := e.run("diff", "--recheck", "0"); code != ExitOK {
		t.Fatalf("diff after a clean run: exit %d, want 0\n%s", code, out)
	}
	e.exec(e.platform, `DELETE FROM customers WHERE id = 5`)
	e.exec(e.platform, `INSERT INTO customers (id, full_name) VALUES (9999, 'ghost')`)
	e.exec(e.platform, `UPDATE customers SET balance = 1 WHERE id = 7`)
	code, out := e.run("diff", "--format", "json", "--recheck", "0")
	if code != ExitFailed {
		t.Fatalf("diff with drift: exit %d, want 1\n%s", code, out)
	}
	var rep struct {
		Flows []struct {
			Name      string `json:"name"`
			InSync    bool   `json:"in_sync"`
			Missing   []struct{ Key map[string]any }
			Extra     []struct{ Key map[string]any }
			Different []struct {
				Key     map[string]any
				Columns []string
			}
		} `json:"flows"`
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	f := rep.Flows[0]
	if f.InSync || len(f.Missing) != 1 || f.Missing[0].Key["id"] != 5.0 || len(f.Extra) != 1 || f.Extra[0].Key["id"] != 9999.0 ||
		len(f.Different) != 1 || f.Different[0].Key["id"] != 7.0 || strings.Join(f.Different[0].Columns, ",") != "balance" {
		t.Fatalf("report = %+v", f)
	}
	if code, out := e.run("diff", "--repair", "--dry-run", "--recheck", "0"); code != ExitFailed || !strings.Contains(out, "would repair") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if code, out := e.run("diff", "--repair", "--recheck", "0"); code != ExitOK || !strings.Contains(out, "2 upserts, 1 deletes") {
		t.Fatalf("repair: exit %d\n%s", code, out)
	}
	if code, out := e.run("diff", "--recheck", "0"); code != ExitOK {
		t.Fatalf("diff after repair: exit %d, want 0\n%s", code, out)
	}
	if code, out := e.run("status"); code != ExitOK || !strings.Contains(out, "in sync at") {
		t.Fatalf("status after the last diff: exit %d\n%s", code, out)
	}
	if code, out := e.run("status", "--format", "json"); code != ExitOK || !strings.Contains(out, `"last_diff"`) || strings.Contains(out, `"detail"`) {
		t.Fatalf("status --format json: exit %d\n%s", code, out)
	}
	if code, out := e.run("diff", "--flow", "nope"); code != ExitUsage {
		t.Fatalf("unknown flow: exit %d, want 2\n%s", code, out)
	}
}
