package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
)

// envOf returns a lookup function over a fixed environment.
func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func parseFile(t *testing.T, name string, env func(string) (string, bool)) (*Config, error) {
	t.Helper()
	path := filepath.Join("testdata", name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(path, src, env)
}

func TestParseContractExample(t *testing.T) {
	cfg, err := parseFile(t, "contract.yaml", envOf("LEGACY_DSN", "postgres://u:pw@legacy/db"))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := Flow{
		Name: "customers",
		From: Endpoint{Store: "legacy", Table: "public.cust_mstr"},
		To:   Endpoint{Store: "platform", Table: "customers"},
		Key:  []string{"cust_id"},
		Columns: Columns{
			{Target: "id", Source: "cust_id"},
			{Target: "full_name", Source: "cust_nm"},
			{Target: "email", Source: "lower(email_adr)"},
			{Target: "updated_at", Source: "upd_ts"},
		},
		Direction: DirectionBoth,
		Conflict:  Conflict{Policy: "lww", Timestamp: "updated_at", TombstoneTTL: Duration(DefaultTombstoneTTL)},
		After:     []string{"accounts"},
		Poll:      Poll{Column: "upd_ts", Every: Duration(time.Minute), Lag: Duration(DefaultPollLag)},
		Batch:     Batch{Size: DefaultBatchSize, Linger: Duration(DefaultBatchLinger)},
		Retry: Retry{MaxAttempts: DefaultMaxAttempts, Backoff: Duration(DefaultBackoff),
			MaxBackoff: Duration(DefaultMaxBackoff)},
	}
	if diff := cmp.Diff([]Flow{want}, cfg.Flows); diff != "" {
		t.Errorf("flows (-want +got):\n%s", diff)
	}
	wantStores := map[string]Store{
		"legacy":   {Driver: "postgres", DSN: "postgres://u:pw@legacy/db", Capture: "logical"},
		"platform": {Driver: "sqlite", DSN: "testdata/platform.db", Capture: "trigger"},
	}
	if diff := cmp.Diff(wantStores, cfg.Stores); diff != "" {
		t.Errorf("stores (-want +got):\n%s", diff)
	}
	if cfg.State != "testdata/syncbridge-state.db" || cfg.HTTP.Listen != "127.0.0.1:8686" || cfg.Path != "testdata/contract.yaml" {
		t.Errorf("state %q listen %q path %q", cfg.State, cfg.HTTP.Listen, cfg.Path)
	}
	// The example names a flow it does not define; that is the only problem.
	err = cfg.Validate()
	ps := Problems(err)
	if len(ps) != 1 || ps[0].Path != "flows[0].after[0]" || !strings.Contains(ps[0].Msg, `flow "accounts" is not defined`) {
		t.Errorf("validate: got %v", err)
	}
}

func TestParseValidFixture(t *testing.T) {
	cfg, err := parseFile(t, "valid.yaml", envOf("PGPASSWORD", "s3cret", "BATCH", "250"))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := cfg.Validate(WithDrivers("mysql", "postgres", "sqlite")); err != nil {
		t.Fatalf("validate: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"state default resolved", cfg.State, "testdata/state/sync.db"},
		{"listen default", cfg.HTTP.Listen, "127.0.0.1:9090"},
		{"dsn expanded inside text", cfg.Stores["legacy"].DSN, "postgres://sync:s3cret@db.internal:5432/legacy"},
		{"sqlite dsn resolved", cfg.Stores["platform"].DSN, "testdata/data/platform.db?_pragma=busy_timeout(5000)"},
		{"mysql dsn untouched", cfg.Stores["crm"].DSN, "sync:pw@tcp(crm:3306)/crm"},
		{"log level", cfg.Log.Level, "debug"},
		{"direction default", cfg.Flows[0].Direction, DirectionOneWay},
		{"poll every", cfg.Flows[2].Poll.Every.String(), "30s"},
		{"linger", cfg.Flows[1].Batch.Linger.String(), "10ms"},
		{"retry max backoff", cfg.Flows[1].Retry.MaxBackoff.String(), "1m0s"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if got := cfg.Flows[1].Batch.Size; got != 250 {
		t.Errorf("batch size from ${BATCH}: got %d, want 250 (expanded value re-typed as int)", got)
	}
}

func TestColumnsKeepOrderAndLiterals(t *testing.T) {
	cfg, err := parseFile(t, "valid.yaml", envOf("PGPASSWORD", "x"))
	if err != nil {
		t.Fatal(err)
	}
	want := Columns{
		{Target: "id", Source: "cust_id"},
		{Target: "email", Source: "lower(email_adr)"},
		{Target: "region", Source: "42"},
		{Target: "rate", Source: "1.50"},
		{Target: "active", Source: "true"},
		{Target: "first name", Source: `split_part(cust_nm, " ", 1)`},
	}
	if diff := cmp.Diff(want, cfg.Flows[1].Columns); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

func TestColumnsMarshalInOrder(t *testing.T) {
	c := Columns{{Target: "z", Source: "a"}, {Target: "b", Source: "lower(c)"}, {Target: "a", Source: "42"}}
	out, err := yaml.Marshal(struct {
		Columns Columns `yaml:"columns"`
	}{c})
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Columns Columns `yaml:"columns"`
	}
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", out, err)
	}
	if diff := cmp.Diff(c, back.Columns); diff != "" {
		t.Errorf("round trip of\n%s\n(-want +got):\n%s", out, diff)
	}
}

func TestExpansion(t *testing.T) {
	tests := []struct {
		name, value string
		env         []string
		want        string
	}{
		{"set", "${A}", []string{"A", "x"}, "x"},
		{"default when unset", "${A:-def}", nil, "def"},
		{"default when empty", "${A:-def}", []string{"A", ""}, "def"},
		{"set wins over default", "${A:-def}", []string{"A", "x"}, "x"},
		{"empty default", "${A:-}", nil, ""},
		{"inside text", "pre-${A}-${B:-b}", []string{"A", "a"}, "pre-a-b"},
		{"escaped", "$${A}", []string{"A", "x"}, "${A}"},
		{"bare dollar kept", "pa$$w$rd", nil, "pa$$w$rd"},
		{"value cannot inject structure", "${A}", []string{"A", "x\nflows: [evil]"}, "x\nflows: [evil]"},
		{"quoted", `"${A}"`, []string{"A", "true"}, "true"},
		{"digits keep their text", "${A}", []string{"A", "0123"}, "0123"},
		{"hex keeps its text", "${A}", []string{"A", "0x1F"}, "0x1F"},
		{"decimal keeps its scale", "${A}", []string{"A", "1.50"}, "1.50"},
		{"null is text", "${A}", []string{"A", "null"}, "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "stores:\n  s:\n    driver: sqlite\n    dsn: " + tt.value + "\n"
			cfg, err := Parse("x.yaml", []byte(src), envOf(tt.env...))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := cfg.Stores["s"].DSN; got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnsetVariablesAllReported(t *testing.T) {
	_, err := parseFile(t, "unset_vars.yaml", envOf())
	want := []string{
		"testdata/unset_vars.yaml:4: environment variable LEGACY_DSN is not set (use ${LEGACY_DSN:-default} for a default)",
		"testdata/unset_vars.yaml:8: environment variable PLATFORM_PW is not set (use ${PLATFORM_PW:-default} for a default)",
	}
	if err == nil {
		t.Fatal("no error")
	}
	if got := strings.Split(err.Error(), "\n"); !cmp.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	var fe *FileError
	if !errors.As(err, &fe) || fe.Line != 4 {
		t.Errorf("errors.As FileError: %#v", fe)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown key names path and suggestion", "",
			`testdata/unknown_key.yaml:4:5: unknown field "dsnn" in stores.legacy (did you mean "dsn"?)`},
		{"unknown top-level key", "stats: x\n",
			`x.yaml:1:1: unknown field "stats" (did you mean "state"?)`},
		{"unknown key without close match lists fields", "flows:\n  - name: a\n    from: {store: s, table: t, zzzzzzz: 1}\n",
			`x.yaml:3:32: unknown field "zzzzzzz" in flows[0].from; known fields: store, table`},
		{"wrong type", "flows:\n  - batch:\n      size: lots\n",
			`x.yaml:3:13: flows[0].batch.size: expected an integer, got "lots"`},
		{"bad duration", "flows:\n  - poll: {every: 1x}\n",
			`x.yaml:2:19: flows[0].poll.every: invalid duration "1x": write a number with a unit, e.g. 500ms, 30s, 1m or 1h30m`},
		{"duration without unit", "flows:\n  - batch: {linger: 50}\n",
			`x.yaml:2:21: flows[0].batch.linger: duration 50 has no unit: write 50s for seconds or 50ms for milliseconds`},
		{"columns not a mapping", "flows:\n  - columns: [a, b]\n",
			`x.yaml:2:14: flows[0].columns: columns must be a mapping of target column to source column or expression, e.g. ` + "`id: cust_id`"},
		{"column without source", "flows:\n  - columns:\n      id: cust_id\n      email:\n",
			`flows[0].columns.email: column "email" has no source; write a source column, an expression, or nil for NULL`},
		{"duplicate key", "state: a\nstate: b\n", `x.yaml:2:1: mapping key "state" already defined at [1:1]`},
		{"syntax", "flows: [\n", `x.yaml:1:8: `},
		{"empty file", "# nothing\n", `x.yaml:1: the file is empty`},
		{"two documents", "state: a\n---\nstate: b\n", `x.yaml:3: more than one YAML document`},
		{"bad variable name", "state: ${1X}\n", `x.yaml:1: invalid variable reference ${1X}`},
		{"unterminated variable", "state: ${X\n", `x.yaml:1: unterminated variable reference "${X"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.src == "" {
				_, err = parseFile(t, "unknown_key.yaml", envOf())
			} else {
				_, err = Parse("x.yaml", []byte(tt.src), envOf())
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got  %q\nwant %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\x1b[") {
				t.Errorf("error contains colour codes: %q", err)
			}
		})
	}
}

func TestEnvRetyping(t *testing.T) {
	src := "flows:\n  - name: f\n    batch:\n      size: ${N}\n    retry:\n      max_attempts: \"${N}\"\n"
	cfg, err := Parse("x.yaml", []byte(src), envOf("N", "7"))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if cfg.Flows[0].Batch.Size != 7 || cfg.Flows[0].Retry.MaxAttempts != 7 {
		t.Errorf("got batch %d attempts %d", cfg.Flows[0].Batch.Size, cfg.Flows[0].Retry.MaxAttempts)
	}
}

func TestLoad(t *testing.T) {
	t.Setenv("LEGACY_DSN", "postgres://u@h/db")
	cfg, err := Load(filepath.Join("testdata", "contract.yaml"))
	if err != nil || cfg.Stores["legacy"].DSN != "postgres://u@h/db" {
		t.Fatalf("load: %v %+v", err, cfg)
	}
	if _, err := Load(filepath.Join("testdata", "missing.yaml")); err == nil || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("missing file: %v", err)
	}
}

func TestResolveSQLitePath(t *testing.T) {
	tests := []struct{ dir, dsn, want string }{
		{"ex", "./platform.db", "ex/platform.db"},
		{"ex", "data/p.db?_pragma=x", "ex/data/p.db?_pragma=x"},
		{"ex", "file:p.db?mode=ro", "file:ex/p.db?mode=ro"},
		{"ex", "/abs/p.db", "/abs/p.db"},
		{"ex", ":memory:", ":memory:"},
		{"ex", "file::memory:?cache=shared", "file::memory:?cache=shared"},
		{"ex", "file:p?mode=memory", "file:p?mode=memory"},
		{".", "p.db", "p.db"},
		{"ex", "", ""},
	}
	for _, tt := range tests {
		if got := resolveSQLitePath(tt.dir, tt.dsn); got != tt.want {
			t.Errorf("resolveSQLitePath(%q, %q) = %q, want %q", tt.dir, tt.dsn, got, tt.want)
		}
	}
}
