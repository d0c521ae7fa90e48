package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// The tables trigger capture keeps beside the user's tables, in the same
// schema (a trigger can only write to tables of its own schema).
const (
	logTable     = "_syncbridge_log"     // one row per captured row change
	cursorTable  = "_syncbridge_cursor"  // one row per consuming flow: how far it acked
	sessionTable = "_syncbridge_session" // non-empty inside a sink tx whose writes must not be captured
	metaTable    = "_syncbridge_meta"    // per captured table: trigger version, prune watermark
)

// triggerTemplateVersion changes whenever the generated trigger SQL changes,
// so Prepare replaces triggers installed by older versions.
const triggerTemplateVersion = "t1"

// maxTriggerColumns bounds the columns one json_object call may take
// (SQLite allows at most 1000 function arguments, two per column).
const maxTriggerColumns = 400

// Op names written into the log.
const (
	logInsert = "insert"
	logUpdate = "update"
	logDelete = "delete"
)

func triggerNames(table string) [3]string {
	p := "_syncbridge_" + table
	return [3]string{p + "_ins", p + "_upd", p + "_del"}
}

// captureDDL creates the capture tables if they are missing.
func captureDDL(schema string) []string {
	s := quoteIdent(schema) + "."
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + s + quoteIdent(logTable) + ` (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	tbl TEXT NOT NULL,
	op TEXT NOT NULL,
	key_json TEXT,
	before_json TEXT,
	after_json TEXT,
	ts TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`,
		`CREATE INDEX IF NOT EXISTS ` + s + quoteIdent(logTable+"_tbl_id") + ` ON ` + quoteIdent(logTable) + ` (tbl, id)`,
		`CREATE TABLE IF NOT EXISTS ` + s + quoteIdent(cursorTable) + ` (flow TEXT PRIMARY KEY, tbl TEXT, acked INTEGER)`,
		`CREATE TABLE IF NOT EXISTS ` + s + quoteIdent(sessionTable) + ` (applying INTEGER)`,
		`CREATE TABLE IF NOT EXISTS ` + s + quoteIdent(metaTable) + ` (
	tbl TEXT PRIMARY KEY,
	version TEXT NOT NULL,
	pruned_max INTEGER NOT NULL DEFAULT 0,
	updated_at TEXT)`,
	}
}

// triggerVersion hashes what the triggers depend on: the template and the
// column list. A changed column list means the triggers must be replaced so
// the row images carry the new columns.
func triggerVersion(t *connector.Table) string {
	h := sha256.New()
	h.Write([]byte(triggerTemplateVersion))
	for _, c := range t.Columns {
		fmt.Fprintf(h, "\x00%s\x00%s", c.Name, c.Type)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// jsonValueExpr is one column's value inside a row image. Blobs become
// ["x", HEX] because JSON has no binary type; everything else keeps its
// storage class (integers and reals as JSON numbers, which are decoded
// exactly, text as strings, NULL as null).
func jsonValueExpr(ref string) string {
	return `CASE typeof(` + ref + `) WHEN 'blob' THEN json_array('x', hex(` + ref + `)) ELSE ` + ref + ` END`
}

// rowImageExpr is a JSON object of every column of the row NEW or OLD.
func rowImageExpr(row string, t *connector.Table) string {
	parts := make([]string, 0, 2*len(t.Columns))
	for _, c := range t.Columns {
		parts = append(parts, quoteLiteral(c.Name), jsonValueExpr(row+"."+quoteIdent(c.Name)))
	}
	return "json_object(" + strings.Join(parts, ", ") + ")"
}

func keyExpr(row string, key []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = jsonValueExpr(row + "." + quoteIdent(k))
	}
	return "json_array(" + strings.Join(parts, ", ") + ")"
}

// triggerDDL returns the three capture triggers of a table. Each skips
// logging while the session table has a row: the sink of a both-way flow
// adds one inside its own transaction (SQLite has one writer at a time, so
// no other writer's statements run while it is there), which is how its
// writes are kept from echoing back.
func triggerDDL(schema, table string, t *connector.Table, key []string) []string {
	names := triggerNames(table)
	tbl := quoteLiteral(table)
	head := func(name, event string) string {
		return `CREATE TRIGGER ` + quoteIdent(schema) + "." + quoteIdent(name) + ` AFTER ` + event +
			` ON ` + quoteIdent(table) + ` FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM ` + quoteIdent(sessionTable) + `) BEGIN `
	}
	ins := `INSERT INTO ` + quoteIdent(logTable) + ` (tbl, op, key_json, before_json, after_json) VALUES (`
	return []string{
		head(names[0], "INSERT") + ins + tbl + `, '` + logInsert + `', ` + keyExpr("NEW", key) + `, NULL, ` + rowImageExpr("NEW", t) + `); END`,
		head(names[1], "UPDATE") + ins + tbl + `, '` + logUpdate + `', ` + keyExpr("NEW", key) + `, ` + rowImageExpr("OLD", t) + `, ` + rowImageExpr("NEW", t) + `); END`,
		head(names[2], "DELETE") + ins + tbl + `, '` + logDelete + `', ` + keyExpr("OLD", key) + `, ` + rowImageExpr("OLD", t) + `, NULL); END`,
	}
}

// installCapture installs or upgrades trigger capture for one flow, in one
// transaction: the capture tables, the table's triggers (replaced when the
// column list or template changed since they were installed), and the flow's
// consumer row, which starts at the current end of the log. It reports
// whether the triggers were (re)created.
func installCapture(ctx context.Context, db *sql.DB, table, flow string, key []string) (installed bool, err error) {
	schema, name := splitTable(table)
	err = withImmediateTx(ctx, db, func(q queryer) error {
		for _, stmt := range captureDDL(schema) {
			if _, err := q.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		// Described inside the transaction so a concurrent ALTER TABLE
		// cannot slip between reading the columns and writing the triggers.
		t, err := describe(ctx, q, table)
		if err != nil {
			return err
		}
		if len(t.Columns) > maxTriggerColumns {
			return fmt.Errorf("table has %d columns; trigger capture supports at most %d", len(t.Columns), maxTriggerColumns)
		}
		version := triggerVersion(t)
		current, err := triggersCurrent(ctx, q, schema, name, version)
		if err != nil {
			return err
		}
		if !current {
			if len(t.Key) > 0 {
				key = t.Key // key_json is informational: changes take keys from the row images
			}
			if err := replaceTriggers(ctx, q, schema, name, t, key, version); err != nil {
				return err
			}
			installed = true
		}
		_, err = q.ExecContext(ctx, `INSERT INTO `+quoteIdent(schema)+`.`+quoteIdent(cursorTable)+` (flow, tbl, acked)
			VALUES (?, ?, (SELECT COALESCE((SELECT seq FROM `+quoteIdent(schema)+`.sqlite_sequence WHERE name = ?), 0)))
			ON CONFLICT (flow) DO UPDATE SET tbl = excluded.tbl`, flow, name, logTable)
		return err
	})
	return installed, err
}

// triggersCurrent reports whether all three triggers exist and were made
// for this version of the table.
func triggersCurrent(ctx context.Context, q queryer, schema, table, version string) (bool, error) {
	var stored string
	err := q.QueryRowContext(ctx, `SELECT version FROM `+quoteIdent(schema)+`.`+quoteIdent(metaTable)+` WHERE tbl = ?`, table).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil || stored != version {
		return false, err
	}
	names := triggerNames(table)
	var n int
	err = q.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(schema)+`.sqlite_master
		WHERE type = 'trigger' AND tbl_name = ? AND name IN (?, ?, ?)`, table, names[0], names[1], names[2]).Scan(&n)
	return n == 3, err
}

func replaceTriggers(ctx context.Context, q queryer, schema, table string, t *connector.Table, key []string, version string) error {
	for _, n := range triggerNames(table) {
		if _, err := q.ExecContext(ctx, `DROP TRIGGER IF EXISTS `+quoteIdent(schema)+`.`+quoteIdent(n)); err != nil {
			return err
		}
	}
	for _, stmt := range triggerDDL(schema, table, t, key) {
		if _, err := q.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create trigger: %w", err)
		}
	}
	_, err := q.ExecContext(ctx, `INSERT INTO `+quoteIdent(schema)+`.`+quoteIdent(metaTable)+` (tbl, version, updated_at)
		VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
		ON CONFLICT (tbl) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`, table, version)
	return err
}

// logEnd returns the highest log id ever issued (SQLite's AUTOINCREMENT
// counter), 0 for an empty log. Unlike max(id) it never goes backwards when
// the log is pruned. Every id at or below it belongs to a committed
// transaction: ids are issued under the single write lock.
func logEnd(ctx context.Context, q queryer, schema string) (int64, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(schema)+`.sqlite_master WHERE type = 'table' AND name = ?`,
		logTable).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, errNotInstalled
	}
	var end int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE((SELECT seq FROM `+quoteIdent(schema)+`.sqlite_sequence WHERE name = ?), 0)`,
		logTable).Scan(&end)
	return end, err
}
