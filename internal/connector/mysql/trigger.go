package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// The objects trigger capture keeps in the captured table's database.
const (
	logTable    = "_syncbridge_log"    // one row per captured row change
	cursorTable = "_syncbridge_cursor" // one row per consuming flow: how far it acked
	writerTable = "_syncbridge_writer" // one row per connection with a capturing transaction open (see logstream.go)
	// triggerPrefix starts the name of every capture trigger.
	triggerPrefix = "_syncbridge_"
)

// triggerSource is `capture: trigger`: AFTER INSERT, UPDATE and DELETE row
// triggers on the table append each change's row images, as JSON objects
// of exact column texts, to _syncbridge_log in the table's database (see
// doc.go and logstream.go). Its methods may be called from one goroutine at
// a time.
type triggerSource struct {
	s                   *Store
	spec                connector.SourceSpec
	t                   *table
	ks                  *keyset
	log, cursor, writer string // quoted, database-qualified
}

var (
	_ connector.Source        = (*triggerSource)(nil)
	_ connector.Preparer      = (*triggerSource)(nil)
	_ connector.ResumeChecker = (*triggerSource)(nil)
)

// newTriggerSource checks the table and key; it writes nothing.
func newTriggerSource(ctx context.Context, s *Store, spec connector.SourceSpec) (*triggerSource, error) {
	t, err := s.describe(ctx, s.db, spec.Table)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	key, err := keyColumns(t.Table, spec.Key)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	spec.Key = key
	ks, err := s.newKeyset(t, key, spec.Columns)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	q := func(name string) string { return quoteIdent(t.schema) + "." + quoteIdent(name) }
	return &triggerSource{s: s, spec: spec, t: t, ks: ks,
		log: q(logTable), cursor: q(cursorTable), writer: q(writerTable)}, nil
}

// Prepare installs what is missing or outdated, idempotently: the log,
// cursor and writer tables, the table's three triggers (their bodies follow
// the table's columns: run it again after ALTER TABLE) and the flow's
// cursor row at the start of the log. Concurrent Prepares of one database
// are serialised with a named lock.
//
// MySQL has no transactional DDL and no CREATE OR REPLACE TRIGGER, so an
// outdated trigger is replaced by creating the new one (its name carries a
// hash of its body) before dropping the old: a change written in between is
// logged twice, which the idempotent apply absorbs, never missed.
func (src *triggerSource) Prepare(ctx context.Context) error {
	err := src.prepare(ctx)
	if err != nil {
		return fmt.Errorf("store %q: prepare trigger capture of %s: %w", src.s.name, src.spec.Table, src.triggerHint(err))
	}
	return nil
}

func (src *triggerSource) prepare(ctx context.Context) error {
	conn, err := src.s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	lock := "syncbridge capture " + src.t.schema
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", lock).Scan(&got); err != nil {
		return err
	}
	if got.Int64 != 1 {
		return fmt.Errorf("another prepare of database %q held the lock %q for 60s", src.t.schema, lock)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", lock) //nolint:errcheck // released with the connection anyway

	// Describe again: the triggers must follow the table as it is now.
	t, err := src.s.describe(ctx, conn, src.spec.Table)
	if err != nil {
		return err
	}
	src.t = t
	for _, q := range src.tableDDL() {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(q, "(", 2)[0], err)
		}
	}
	if err := src.installTriggers(ctx, conn); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "INSERT INTO "+src.cursor+" (flow, tbl, acked) VALUES (?, ?, 0) ON DUPLICATE KEY UPDATE tbl = ?",
		src.spec.Flow, src.t.name, src.t.name)
	return err
}

// tableDDL creates the capture tables. Log ids are AUTO_INCREMENT, whose
// counter InnoDB persists across restarts (MariaDB 10.2.4+, MySQL 8), so
// ids never go back even when the log has been pruned empty.
func (src *triggerSource) tableDDL() []string {
	return []string{
		"CREATE TABLE IF NOT EXISTS " + src.log + ` (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	tbl VARCHAR(64) NOT NULL,
	op VARCHAR(8) NOT NULL,
	tx BIGINT NOT NULL,
	origin VARCHAR(255) NULL,
	old_row LONGTEXT NULL,
	new_row LONGTEXT NULL,
	at DATETIME(6) NOT NULL,
	KEY tbl_id (tbl, id),
	KEY tbl_tx (tbl, tx)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		"CREATE TABLE IF NOT EXISTS " + src.cursor + ` (
	flow VARCHAR(255) NOT NULL PRIMARY KEY,
	tbl VARCHAR(64) NOT NULL,
	acked BIGINT NOT NULL DEFAULT 0,
	pruned BIGINT NOT NULL DEFAULT 0,
	KEY tbl (tbl)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		"CREATE TABLE IF NOT EXISTS " + src.writer + ` (
	conn BIGINT UNSIGNED NOT NULL PRIMARY KEY,
	tx BIGINT NOT NULL
) ENGINE=InnoDB`,
	}
}

// installTriggers creates each trigger whose current body is not
// installed yet, then drops the table's other capture triggers.
func (src *triggerSource) installTriggers(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS
		WHERE TRIGGER_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? AND TRIGGER_NAME LIKE '\_syncbridge\_%'`, src.t.schema, src.t.name)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, op := range []string{"insert", "update", "delete"} {
		name, ddl := src.triggerDDL(op)
		want[name] = true
		if have[name] {
			continue
		}
		var me *gomysql.MySQLError
		if _, err := conn.ExecContext(ctx, ddl); err != nil && !(errors.As(err, &me) && me.Number == 1359) { // already exists
			return fmt.Errorf("create %s trigger: %w", op, err)
		}
	}
	for n := range have {
		if !want[n] {
			if _, err := conn.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+quoteIdent(src.t.schema)+"."+quoteIdent(n)); err != nil {
				return fmt.Errorf("drop outdated trigger %s: %w", n, err)
			}
		}
	}
	return nil
}

// triggerDDL is the CREATE TRIGGER of one operation and the trigger's name:
// "_syncbridge_<table>_<op>_<hash of the body>", at most 64 characters.
//
// Each run of the trigger first locks the connection's row of the writer
// table (inserting it when missing), and only then draws a log id: a reader
// that finds the row locked knows a transaction that may hold unreadable
// ids is open (see logstream.go). The row's tx is the log id of the first
// row the transaction logged (0 until then), which groups a transaction's
// rows. The origin is @syncbridge_origin, which a sink with
// SuppressCapture sets on its connection. An UPDATE that changes no column
// logs nothing, as the binlog does.
func (src *triggerSource) triggerDDL(op string) (name, ddl string) {
	var oldImg, newImg string = "NULL", "NULL"
	switch op {
	case "insert":
		newImg = src.imageSQL("NEW")
	case "update":
		oldImg, newImg = src.imageSQL("OLD"), src.imageSQL("NEW")
	case "delete":
		oldImg = src.imageSQL("OLD")
	}
	skip := ""
	if op == "update" {
		skip = "\n\tIF CAST(sb_old AS BINARY) <=> CAST(sb_new AS BINARY) THEN\n\t\tLEAVE sb;\n\tEND IF;"
	}
	body := "sb: BEGIN\n" +
		"\tDECLARE sb_tx BIGINT DEFAULT 0;\n" +
		"\tDECLARE sb_old, sb_new LONGTEXT CHARACTER SET utf8mb4 DEFAULT NULL;\n" +
		"\tSET sb_old = " + oldImg + ", sb_new = " + newImg + ";" + skip + "\n" +
		"\tINSERT INTO " + src.writer + " (conn, tx) VALUES (CONNECTION_ID(), 0) ON DUPLICATE KEY UPDATE tx = tx;\n" +
		"\tSELECT tx INTO sb_tx FROM " + src.writer + " WHERE conn = CONNECTION_ID() FOR UPDATE;\n" +
		"\tINSERT INTO " + src.log + " (tbl, op, tx, origin, old_row, new_row, at) VALUES (" +
		quoteLiteral(src.t.name) + ", '" + op + "', sb_tx, NULLIF(@syncbridge_origin, ''), sb_old, sb_new, UTC_TIMESTAMP(6));\n" +
		"\tIF sb_tx = 0 THEN\n" +
		"\t\tUPDATE " + src.writer + " SET tx = LAST_INSERT_ID() WHERE conn = CONNECTION_ID();\n" +
		"\tEND IF;\n" +
		"END"
	sum := sha256.Sum256([]byte(src.s.quoteTable(src.spec.Table) + "\n" + op + "\n" + body))
	suffix := "_" + op + "_" + hex.EncodeToString(sum[:4])
	base := triggerPrefix + src.t.name
	if len(base)+len(suffix) > 64 {
		base = base[:64-len(suffix)]
	}
	name = base + suffix
	ddl = "CREATE TRIGGER " + quoteIdent(src.t.schema) + "." + quoteIdent(name) + " AFTER " + strings.ToUpper(op) +
		" ON " + quoteIdent(src.t.schema) + "." + quoteIdent(src.t.name) + " FOR EACH ROW\n" + body
	return name, ddl
}

// imageSQL is the JSON object of a row's column texts, null for NULL:
// JSON_OBJECT('c1', <text of rec.c1>, ...). Every value is a string in the
// form the driver reads over SQL (valueSQL), so decoding goes through the
// same code as snapshots and polls.
func (src *triggerSource) imageSQL(rec string) string {
	args := make([]string, 0, 2*len(src.t.cols))
	for i := range src.t.cols {
		c := &src.t.cols[i]
		args = append(args, quoteLiteral(c.Name), valueSQL(c, rec+"."+quoteIdent(c.Name)))
	}
	if len(args) == 0 {
		return "JSON_OBJECT()"
	}
	return "JSON_OBJECT(" + strings.Join(args, ", ") + ")"
}

// valueSQL is the exact text of a column value, as the trigger logs it:
//
//	BINARY, VARBINARY, BLOB, unknown types   HEX() (any bytes survive JSON)
//	TIMESTAMP                                UNIX_TIMESTAMP(), seconds since the epoch with the
//	                                         column's fraction: independent of the writer's time_zone
//	BIT                                      its integer value
//	anything else                            CAST AS CHAR in utf8mb4: DECIMAL keeps its scale,
//	                                         DATETIME/TIME their microseconds, ENUM/SET their labels,
//	                                         BIGINT UNSIGNED every digit, text is converted from its charset
//
// decodeImageValue reads each back.
func valueSQL(c *column, v string) string {
	switch {
	case c.Kind == change.KindBytes || c.Kind == change.KindUnknown:
		return "HEX(" + v + ")"
	case c.dataType == "timestamp":
		// The zero timestamp has no epoch value: log its text, which
		// decodes to the same zero-date error as a read.
		return "IF(UNIX_TIMESTAMP(" + v + ") = 0, CAST(" + v + " AS CHAR CHARACTER SET utf8mb4), " +
			"CAST(UNIX_TIMESTAMP(" + v + ") AS CHAR CHARACTER SET utf8mb4))"
	case c.dataType == "bit":
		return "CAST(" + v + " + 0 AS CHAR CHARACTER SET utf8mb4)"
	}
	return "CAST(" + v + " AS CHAR CHARACTER SET utf8mb4)"
}

// quoteLiteral quotes s as an SQL string literal, for names from the
// catalog in generated DDL (values are always bound parameters). The
// session's sql_mode has no NO_BACKSLASH_ESCAPES guarantee, so backslashes
// are doubled too.
func quoteLiteral(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", "''").Replace(s) + "'"
}

// triggerHint adds the fix to the errors creating triggers is known for.
func (src *triggerSource) triggerHint(err error) error {
	var me *gomysql.MySQLError
	if !errors.As(err, &me) {
		return err
	}
	switch me.Number {
	case 1419: // binary logging on, no SUPER
		return fmt.Errorf("%w; fix: SET GLOBAL log_bin_trust_function_creators = 1 (and log_bin_trust_function_creators=1 under [mysqld] in my.cnf), or grant SUPER", err)
	case 1142, 1044: // command denied, access denied to database
		return fmt.Errorf("%w; fix: GRANT TRIGGER, CREATE, SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'<host>' (`syncbridge validate` names what is missing)",
			err, quoteIdent(src.t.schema), src.s.cfg.User)
	}
	return err
}

// Position returns a log position every change committed after the call
// is after: the greatest log id, once every transaction that might still
// hold a smaller one has ended (see horizon).
func (src *triggerSource) Position(ctx context.Context) (change.Position, error) {
	id, err := src.waitHorizon(ctx)
	if err != nil {
		return nil, fmt.Errorf("store %q: read log position of %s: %w", src.s.name, src.spec.Table, err)
	}
	return logPosition(id).Bytes(), nil
}

// Compare orders two log positions; see comparePositions.
func (src *triggerSource) Compare(a, b change.Position) (int, error) {
	return comparePositions(a, b)
}

// Snapshot reads one key-ordered backfill chunk.
func (src *triggerSource) Snapshot(ctx context.Context, after change.Key, limit int) ([]change.Change, error) {
	return src.s.snapshot(ctx, src.ks, src.spec.Flow, after, limit)
}

// CheckResume reports a log pruned past from (by other flows' acks after
// this flow's cursor was removed), or a log that is gone, as
// connector.ErrPositionLost.
func (src *triggerSource) CheckResume(ctx context.Context, from change.Position) error {
	p, err := ParsePosition(from)
	if err != nil {
		return err
	}
	if !p.Log {
		return fmt.Errorf("store %q: position %s is not a trigger-log position: the flow's capture mode changed; "+
			"re-backfill the flow with `syncbridge reset --flow %s --yes`: %w", src.s.name, from, src.spec.Flow, connector.ErrPositionLost)
	}
	var pruned int64
	err = src.s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(pruned), 0) FROM "+src.cursor+" WHERE tbl = ?", src.t.name).Scan(&pruned)
	var me *gomysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 { // no such table
		return fmt.Errorf("store %q: the capture log of %s does not exist, so changes since %s are lost: "+
			"re-backfill the flow with `syncbridge reset --flow %s --yes`: %w", src.s.name, src.spec.Table, from, src.spec.Flow, connector.ErrPositionLost)
	}
	if err != nil {
		return fmt.Errorf("store %q: read capture cursor of %s: %w", src.s.name, src.spec.Table, err)
	}
	if p.LogID < pruned {
		return fmt.Errorf("store %q: the capture log of %s was pruned up to id %d, past %s: "+
			"re-backfill the flow with `syncbridge reset --flow %s --yes`: %w", src.s.name, src.spec.Table, pruned, from, src.spec.Flow, connector.ErrPositionLost)
	}
	return nil
}
