package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func validConfig(t *testing.T) *Config {
	t.Helper()
	cfg, err := parseFile(t, "valid.yaml", envOf("PGPASSWORD", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var drivers = []string{"mysql", "postgres", "sqlite"}

// TestValidateProblems changes one thing in a valid config and expects
// exactly one problem, at a path, with a message that says how to fix it.
func TestValidateProblems(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(c *Config)
		path     string
		contains string
	}{
		{"no stores", func(c *Config) { c.Stores = nil; c.Flows = nil }, "stores", "no stores defined"},
		{"no flows", func(c *Config) { c.Flows = nil }, "flows", "no flows defined"},
		{"driver unset", func(c *Config) { setStore(c, "crm", func(s *Store) { s.Driver = "" }) },
			"stores.crm.driver", "not set; one of: mysql, postgres, sqlite"},
		{"driver unknown", func(c *Config) { setStore(c, "crm", func(s *Store) { s.Driver = "mysq" }) },
			"stores.crm.driver", `unknown driver "mysq" (did you mean "mysql"?)`},
		{"dsn empty", func(c *Config) { setStore(c, "crm", func(s *Store) { s.DSN = "" }) },
			"stores.crm.dsn", "dsn: ${CRM_DSN}"},
		{"capture unknown", func(c *Config) { setStore(c, "legacy", func(s *Store) { s.Capture = "logcal" }) },
			"stores.legacy.capture", `unknown capture mode "logcal" (did you mean "logical"?)`},
		{"capture needs driver", func(c *Config) { setStore(c, "crm", func(s *Store) { s.Capture = "logical" }) },
			"stores.crm.capture", "capture logical needs driver postgres; for driver mysql use trigger or poll"},
		{"flow name empty", func(c *Config) { c.Flows[2].Name = "" }, "flows[2].name", "not set"},
		{"flow name invalid", func(c *Config) { c.Flows[2].Name = "Contacts" }, "flows[2].name", "not a valid flow name"},
		{"flow name duplicate", func(c *Config) {
			dup := c.Flows[0]
			dup.To.Table = "accounts_copy"
			c.Flows = append(c.Flows, dup)
		}, "flows[3].name", `duplicate flow name "accounts" (also flows[0])`},
		{"from store undefined", func(c *Config) { c.Flows[0].From.Store = "legcy" },
			"flows[0].from.store", `store "legcy" is not defined (did you mean "legacy"?); defined stores: crm, legacy, platform`},
		{"to store unset", func(c *Config) { c.Flows[0].To.Store = "" }, "flows[0].to.store", "not set; defined stores"},
		{"table unset", func(c *Config) { c.Flows[0].To.Table = "" }, "flows[0].to.table", "not set"},
		{"flow onto itself", func(c *Config) { c.Flows[0].To = c.Flows[0].From }, "flows[0].to", "same store and table as from"},
		{"key duplicate", func(c *Config) { c.Flows[0].Key = []string{"a", "a"} }, "flows[0].key[1]", `"a" is listed twice`},
		{"key not mapped", func(c *Config) { c.Flows[1].Columns = c.Flows[1].Columns[1:] },
			"flows[1].columns", `key column "cust_id" is not mapped`},
		{"column source empty", func(c *Config) { c.Flows[1].Columns[1].Source = " " }, "flows[1].columns.email", "empty"},
		{"column with odd name", func(c *Config) { c.Flows[1].Columns[5].Source = "" }, `flows[1].columns["first name"]`, "empty"},
		{"direction unknown", func(c *Config) { c.Flows[0].Direction = "two-way" }, "flows[0].direction", "one of: one-way, both"},
		{"policy required for both", func(c *Config) { c.Flows[0].Direction = DirectionBoth },
			"flows[0].conflict.policy", "required when direction is both; one of: lww, source-wins"},
		{"policy unknown", func(c *Config) { c.Flows[0].Direction = DirectionBoth; c.Flows[0].Conflict.Policy = "lwww" },
			"flows[0].conflict.policy", `unknown policy "lwww" (did you mean "lww"?)`},
		{"policy on one-way", func(c *Config) { c.Flows[0].Conflict.Policy = "lww" },
			"flows[0].conflict.policy", "only used when direction is both"},
		{"reverse on one-way", func(c *Config) { c.Flows[0].Reverse = Columns{{Target: "a", Source: "b"}} },
			"flows[0].reverse", "only used when direction is both"},
		{"merge needs a fallback", func(c *Config) { both(c, "merge") }, "flows[0].conflict.fallback", "required by policy merge"},
		{"fallback only for merge", func(c *Config) { both(c, "lww"); c.Flows[0].Conflict.Fallback = "lww" },
			"flows[0].conflict.fallback", "only used by policy merge"},
		{"column policy decides rows", func(c *Config) {
			both(c, "lww")
			c.Flows[0].Conflict.Columns = map[string]string{"email": "merge"}
		}, "flows[0].conflict.columns.email", "decides whole rows"},
		{"column policy unknown", func(c *Config) {
			both(c, "lww")
			c.Flows[0].Conflict.Columns = map[string]string{"email": "newest"}
		}, "flows[0].conflict.columns.email", "unknown policy"},
		{"owner needs a store", func(c *Config) { both(c, "owner") }, "flows[0].conflict.owner.store", "required by the owner policy"},
		{"owner store is a side", func(c *Config) { both(c, "owner"); c.Flows[0].Conflict.Owner.Store = "crm" },
			"flows[0].conflict.owner.store", `"crm" is not a side of this flow; use legacy or platform`},
		{"owner unused", func(c *Config) { both(c, "lww"); c.Flows[0].Conflict.Owner.Store = "legacy" },
			"flows[0].conflict.owner", "only used by the owner policy"},
		{"rule needed", func(c *Config) { both(c, "rule") }, "flows[0].conflict.rule", "required by policy rule"},
		{"rule unused", func(c *Config) { both(c, "lww"); c.Flows[0].Conflict.Rule = `"ours"` },
			"flows[0].conflict.rule", "only used by policy rule"},
		{"filter on both", func(c *Config) { both(c, "lww"); c.Flows[0].Filter = "x > 1" },
			"flows[0].filter", "not supported with direction: both"},
		{"reverse entry empty", func(c *Config) { both(c, "lww"); c.Flows[0].Reverse = Columns{{Target: "a", Source: " "}} },
			"flows[0].reverse.a", "empty"},
		{"after undefined", func(c *Config) { c.Flows[1].After = []string{"acounts"} },
			"flows[1].after[0]", `flow "acounts" is not defined (did you mean "accounts"?)`},
		{"after itself", func(c *Config) { c.Flows[0].After = []string{"accounts"} },
			"flows[0].after[0]", "cannot run after itself"},
		{"after cycle", func(c *Config) { c.Flows[0].After = []string{"customers"} },
			"flows[0].after", "cycle accounts -> customers -> accounts; remove one of these dependencies"},
		{"poll column required", func(c *Config) { c.Flows[2].Poll.Column = "" },
			"flows[2].poll.column", "required because store crm uses capture: poll"},
		{"batch size too big", func(c *Config) { c.Flows[0].Batch.Size = 100001 }, "flows[0].batch.size", "use 1 to 100000"},
		{"batch size negative", func(c *Config) { c.Flows[0].Batch.Size = -1 }, "flows[0].batch.size", "out of range"},
		{"retry attempts", func(c *Config) { c.Flows[0].Retry.MaxAttempts = -1 }, "flows[0].retry.max_attempts", "at least 1"},
		{"max backoff below backoff", func(c *Config) { c.Flows[1].Retry.MaxBackoff = Duration(1) },
			"flows[1].retry.max_backoff", "less than retry.backoff"},
		{"token beyond loopback", func(c *Config) { c.HTTP.Listen = ":8686" }, "http.token", "required because http.listen"},
		{"listen not host:port", func(c *Config) { c.HTTP.Listen = "8686" }, "http.listen", "not host:port"},
		{"two flows write one table", func(c *Config) { c.Flows[2].To.Table = "customers" },
			"flows[2].to", "table customers in store platform is already written by flow customers (flows[1])"},
		{"both flow writes its source", func(c *Config) {
			c.Flows[0].Direction, c.Flows[0].Conflict.Policy = DirectionBoth, "lww"
			c.Flows[0].From = Endpoint{Store: "platform", Table: "customers"}
		}, "flows[1].to", "already written by flow accounts (flows[0])"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level", "one of: debug, info, warn, error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig(t)
			tt.mutate(cfg)
			err := cfg.Validate(WithDrivers(drivers...))
			ps := Problems(err)
			if tt.name == "no stores" && len(ps) == 2 { // "no flows" is also true
				ps = ps[:1]
			}
			if len(ps) != 1 {
				t.Fatalf("want 1 problem, got %d:\n%v", len(ps), err)
			}
			if ps[0].Path != tt.path || !strings.Contains(ps[0].Msg, tt.contains) {
				t.Errorf("got %q\nwant path %q containing %q", ps[0].Error(), tt.path, tt.contains)
			}
		})
	}
}

func TestValidateLoopback(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:1", "127.9.9.9:1", "[::1]:1", "localhost:1", "LOCALHOST:1", "off"} {
		cfg := validConfig(t)
		cfg.HTTP.Listen = listen
		if err := cfg.Validate(); err != nil {
			t.Errorf("listen %s: %v", listen, err)
		}
	}
	for _, listen := range []string{"0.0.0.0:1", "[::]:1", "10.0.0.1:1", "example.com:1", ":1"} {
		cfg := validConfig(t)
		cfg.HTTP.Listen = listen
		if err := cfg.Validate(); err == nil {
			t.Errorf("listen %s without token: no problem reported", listen)
		}
		cfg.HTTP.Token = "t"
		if err := cfg.Validate(); err != nil {
			t.Errorf("listen %s with token: %v", listen, err)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg, err := parseFile(t, "problems.yaml", envOf())
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate(WithDrivers(drivers...))
	var got []string
	for _, p := range Problems(err) {
		got = append(got, p.Path)
	}
	want := []string{
		"http.token",
		"stores.legacy.driver",
		"stores.legacy.dsn",
		"stores.legacy.capture",
		"flows[0].name",
		"flows[0].from.store",
		"flows[0].to.table",
		"flows[0].columns",
		"flows[0].conflict.policy",
		"flows[1].name",
		"flows[1].name",
		"flows[1].batch.size",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problem paths (-want +got):\n%s\nfull error:\n%v", diff, err)
	}
	var p *Problem
	if !errors.As(err, &p) {
		t.Error("errors.As(*Problem) failed")
	}
}

func TestValidateCycles(t *testing.T) {
	cfg, err := parseFile(t, "cycle.yaml", envOf())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range Problems(cfg.Validate()) {
		got = append(got, p.Error())
	}
	want := []string{
		"flows[0].after: cycle customers -> orders -> customers; remove one of these dependencies",
		"flows[2].after: cycle items -> items2 -> items3 -> items; remove one of these dependencies",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestProblemsOfOtherErrors(t *testing.T) {
	if Problems(nil) != nil {
		t.Error("Problems(nil) != nil")
	}
	ps := Problems(errors.Join(&FileError{File: "f", Line: 2, Msg: "m"}, &Problem{Path: "p", Msg: "q"}))
	if len(ps) != 2 || ps[0].Msg != "f:2: m" || ps[1].Path != "p" {
		t.Errorf("got %+v", ps)
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{{"dsn", "dsnn", 1}, {"legacy", "legcay", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"same", "same", 0}}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	if got := closest("x", []string{"state", "stores"}); got != "" {
		t.Errorf("closest of an unrelated name = %q, want none", got)
	}
}

func setStore(c *Config, name string, f func(*Store)) {
	s := c.Stores[name]
	f(&s)
	c.Stores[name] = s
}

// both makes flows[0] a both-way flow with policy.
func both(c *Config, policy string) {
	c.Flows[0].Direction, c.Flows[0].Conflict.Policy = DirectionBoth, policy
}

// TestParseBothFlow reads every conflict setting of a both-way flow.
func TestParseBothFlow(t *testing.T) {
	cfg, err := Parse("both.yaml", []byte(`
stores:
  a: {driver: sqlite, dsn: ./a.db, capture: trigger}
  b: {driver: sqlite, dsn: ./b.db, capture: trigger}
flows:
  - name: customers
    from: {store: a, table: CUST}
    to: {store: b, table: customers}
    columns: {id: CUST_ID, full_name: 'CUST_FNM + " " + CUST_LNM'}
    reverse:
      CUST_FNM: 'split_part(full_name, " ", 1)'
      CUST_LNM: 'split_part(full_name, " ", 2)'
    direction: both
    conflict:
      policy: merge
      fallback: owner
      timestamp: updated_at
      columns: {email: source-wins}
      owner: {store: b, columns: [full_name], rows: 'tier == "gold"'}
      tombstone_ttl: 24h
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(WithDrivers(drivers...)); err != nil {
		t.Fatal(err)
	}
	f := cfg.Flows[0]
	c := f.Conflict
	if len(f.Reverse) != 2 || f.Reverse[1].Target != "CUST_LNM" || c.Fallback != "owner" || c.Columns["email"] != "source-wins" ||
		c.Owner.Store != "b" || c.Owner.Columns[0] != "full_name" || c.Owner.Rows == "" || c.TombstoneTTL.D() != 24*time.Hour {
		t.Fatalf("parsed %+v", f)
	}
}
