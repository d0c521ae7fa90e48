package config

import (
	"strings"
	"testing"
)

func TestValidateZeroDates(t *testing.T) {
	tests := []struct {
		store, driver, value string
		problem              string // "" = valid
	}{
		{"crm", "mysql", "", ""},
		{"crm", "mysql", "error", ""},
		{"crm", "mysql", "null", ""},
		{"crm", "mysql", "NULL", `stores.crm.zero_dates: unknown value "NULL"; one of: error, null`},
		{"crm", "mysql", "zero", `stores.crm.zero_dates: unknown value "zero"; one of: error, null`},
		{"legacy", "postgres", "null", "stores.legacy.zero_dates: only driver mysql has zero dates; remove zero_dates from this postgres store"},
	}
	for _, tt := range tests {
		cfg := validConfig(t)
		setStore(cfg, tt.store, func(s *Store) { s.Driver, s.ZeroDates = tt.driver, tt.value })
		err := cfg.Validate(WithDrivers(drivers...))
		ps := Problems(err)
		switch {
		case tt.problem == "" && len(ps) > 0:
			t.Errorf("zero_dates %q on %s: %v", tt.value, tt.driver, err)
		case tt.problem != "" && (len(ps) != 1 || !strings.Contains(ps[0].Error(), tt.problem)):
			t.Errorf("zero_dates %q on %s: %v\nwant one problem: %s", tt.value, tt.driver, err, tt.problem)
		}
	}
}

func TestZeroDatesDecoded(t *testing.T) {
	cfg, err := Parse("z.yaml", []byte(`state: ./s.db
stores:
  legacy: {driver: mysql, dsn: "u:p@tcp(h:3306)/d", capture: binlog, zero_dates: null}
  quoted: {driver: mysql, dsn: "u:p@tcp(h:3306)/d", zero_dates: "null"}
  block:
    driver: mysql
    dsn: "u:p@tcp(h:3306)/d"
    zero_dates: NULL
  err: {driver: mysql, dsn: "u:p@tcp(h:3306)/d", zero_dates: error}
  dst: {driver: sqlite, dsn: ./d.db}
flows:
  - {name: t, from: {store: legacy, table: t}, to: {store: dst, table: t}}
`), envOf())
	if err != nil {
		t.Fatal(err)
	}
	// Unquoted, YAML reads null as no value; it must still mean null.
	for store, want := range map[string]string{"legacy": "null", "quoted": "null", "block": "null", "err": "error", "dst": ""} {
		if got := cfg.Stores[store].ZeroDates; got != want {
			t.Errorf("stores.%s.zero_dates = %q, want %q", store, got, want)
		}
	}
}
