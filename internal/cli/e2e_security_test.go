package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncbridge/syncbridge/internal/testenv"
)

// TestSecretsNeverLeak runs commands against stores whose DSNs carry a
// canary password (one unreachable, one with a wrong password) and checks
// the canary appears in no output: errors, logs, status.
func TestSecretsNeverLeak(t *testing.T) {
	const canary = "Canary7Secret"
	pg := testenv.Postgres(t)
	good := pg.NewDatabase(t)
	wrongPass := strings.Replace(good, "postgres@", "nobody:"+canary+"@", 1)
	for name, dsn := range map[string]string{
		"unreachable url":       "postgres://app:" + canary + "@127.0.0.1:1/db?sslmode=disable",
		"unreachable key-value": "host=127.0.0.1 port=1 user=app password=" + canary + " dbname=db sslmode=disable",
		"wrong user":            wrongPass,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 100)
			e.writeConfig(fmt.Sprintf(`state: ./state.db
http: {listen: "off"}
log: {level: debug}
stores:
  legacy:   {driver: postgres, dsn: %q, capture: logical}
  platform: {driver: sqlite, dsn: ./platform.db}
flows:
  - {name: customers, from: {store: legacy, table: customers}, to: {store: platform, table: customers}}
`, dsn))
			for _, cmd := range [][]string{{"validate"}, {"run", "--once"}, {"status"}, {"dlq", "list"}} {
				code, out := e.run(cmd...)
				if strings.Contains(out, canary) {
					t.Fatalf("%v leaked the password:\n%s", cmd, out)
				}
				if cmd[0] == "validate" && (code != ExitUsage || !strings.Contains(out, "stores.legacy")) {
					t.Fatalf("%v: exit %d, want 2 naming the store:\n%s", cmd, code, out)
				}
			}
		})
	}
}

// TestHostileIdentifiers replicates tables and columns whose names need
// quoting (quotes, reserved words, spaces, SQL fragments, unicode, mixed
// case) through backfill, change capture and apply, PostgreSQL to SQLite and
// SQLite to PostgreSQL.
func TestHostileIdentifiers(t *testing.T) {
	const ddl = `CREATE TABLE "Order's ""x""" ("select" bigint PRIMARY KEY, "a""b" text, "x; DROP TABLE t; --" text, "naïve Ünïcode" text, "MixedCase" text)`
	for _, pair := range [][2]string{{"postgres", "sqlite"}, {"sqlite", "postgres"}} {
		t.Run(pair[0]+"_to_"+pair[1], func(t *testing.T) {
			e := &env{t: t, dir: t.TempDir()}
			e.cfgPath = filepath.Join(e.dir, "syncbridge.yaml")
			dsns := map[string]string{}
			open := func(role, driver string) (string, func(q string, args ...any)) {
				if driver == "postgres" {
					dsn := testenv.Postgres(t).NewDatabase(t)
					db := openPG(t, dsn)
					return dsn, func(q string, args ...any) { e.exec(db, q, args...) }
				}
				path := filepath.Join(e.dir, role+".db")
				db := openDB(t, path)
				return path, func(q string, args ...any) { e.exec(db, q, args...) }
			}
			srcDSN, srcExec := open("src", pair[0])
			dstDSN, dstExec := open("dst", pair[1])
			srcExec(ddl)
			dstExec(ddl)
			dsns["src"], dsns["dst"] = srcDSN, dstDSN
			capture := map[string]string{"postgres": "logical", "sqlite": "trigger"}[pair[0]]
			ph := func(n int) string {
				if pair[0] == "postgres" {
					return fmt.Sprintf("$%d", n)
				}
				return "?"
			}
			ins := fmt.Sprintf(`INSERT INTO "Order's ""x""" VALUES (%s, %s, %s, %s, %s)`, ph(1), ph(2), ph(3), ph(4), ph(5))
			srcExec(ins, 1, `it's "quoted"`, "'; DROP TABLE x; --", "ü", "A")
			e.writeConfig(fmt.Sprintf(`state: ./state.db
http: {listen: "off"}
stores:
  src: {driver: %s, dsn: %q, capture: %s}
  dst: {driver: %s, dsn: %q}
flows:
  - name: hostile
    from: {store: src, table: '"Order''s ""x"""'}
    to:   {store: dst, table: '"Order''s ""x"""'}
`, pair[0], srcDSN, capture, pair[1], dstDSN))
			e.mustRun("run", "--once")
			srcExec(ins, 2, "b", "c", "d", "e")
			srcExec(`UPDATE "Order's ""x""" SET "a""b" = 'changed' WHERE "select" = 1`)
			e.mustRun("run", "--once")
			want := scanAll(t, pair[0], srcDSN, `"Order's ""x"""`)
			got := scanAll(t, pair[1], dstDSN, `"Order's ""x"""`)
			cols := map[string]string{}
			for c := range want[0] {
				cols[c] = c
			}
			if len(cols) != 5 {
				t.Fatalf("columns read: %v", cols)
			}
			sameContent(t, want, got, cols)
		})
	}
}
