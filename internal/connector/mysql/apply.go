package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector/sqlsink"
)

// execUpsert writes rows, which all write the same columns, in one
// statement. A failure of the key guard is explained (see upsertSQL).
func (s *Sink) execUpsert(ctx context.Context, rows []sqlsink.Row) error {
	sig := sqlsink.AppendSignature(make([]byte, 0, len(rows[0].Cols)+8), rows)
	st, err := s.stmt(ctx, sig, func() string { return s.upsertSQL(rows[0].Cols, len(rows)) })
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, sqlsink.Args(rows)...)
	return s.explain(err)
}

// upsertSQL is INSERT ... ON DUPLICATE KEY UPDATE of the chosen columns for
// n rows.
//
// ON DUPLICATE KEY UPDATE fires on any unique key, not only the primary
// key: a row whose secondary unique value is held by a row with another
// key would silently update that other row. The first assignment guards
// against it: it keeps the key when the existing row has the incoming key,
// and otherwise sets it to NULL, which the strict sql_mode refuses (error
// 1048 on the key column, reported as a duplicate; see explain).
func (s *Sink) upsertSQL(cols []bool, n int) string {
	var names, sets []string
	for i, ok := range cols {
		if !ok {
			continue
		}
		names = append(names, quoteIdent(s.t.cols[i].Name))
		if !s.keySet[s.t.cols[i].Name] {
			sets = append(sets, s.t.cols[i].Name)
		}
	}
	var sb strings.Builder
	sb.WriteString("INSERT INTO " + s.store.quoteTable(s.spec.Table) + " (" + strings.Join(names, ", ") + ") VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ")"
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(row)
	}
	sb.WriteString(s.store.upsertClauseGuarded(s.spec.Key, sets))
	return sb.String()
}

// rowAlias names the incoming row in MySQL 8.0.20+ upserts.
const rowAlias = "_sb_new"

// incoming is the expression for the incoming value of column c in an ON
// DUPLICATE KEY UPDATE clause: VALUES(c) on MariaDB and older MySQL, the row
// alias on MySQL 8.0.20+, where VALUES() is deprecated.
func (s *Store) incoming(c string) string {
	if s.rowAlias {
		return rowAlias + "." + quoteIdent(c)
	}
	return "VALUES(" + quoteIdent(c) + ")"
}

// upsertClause is the tail of an INSERT that updates cols on a duplicate.
func (s *Store) upsertClause(cols []string) string {
	return s.upsertClauseGuarded(nil, cols)
}

// upsertClauseGuarded is upsertClause with the key guard of upsertSQL.
func (s *Store) upsertClauseGuarded(key, cols []string) string {
	var sb strings.Builder
	if s.rowAlias {
		sb.WriteString(" AS " + rowAlias)
	}
	sb.WriteString(" ON DUPLICATE KEY UPDATE ")
	var sets []string
	if len(key) > 0 {
		same := make([]string, len(key))
		for i, k := range key {
			same[i] = quoteIdent(k) + " <=> " + s.incoming(k)
		}
		k0 := quoteIdent(key[0])
		sets = append(sets, k0+" = IF("+strings.Join(same, " AND ")+", "+k0+", NULL)")
	}
	for _, c := range cols {
		sets = append(sets, quoteIdent(c)+" = "+s.incoming(c))
	}
	sb.WriteString(strings.Join(sets, ", "))
	return sb.String()
}

// applyDelete deletes the row with the change's key; a missing row is fine.
func (s *Sink) applyDelete(ctx context.Context, c *change.Change) error {
	args, err := s.enc.DeleteArgs(c)
	if err != nil {
		return err
	}
	st, err := s.stmt(ctx, []byte("d"), func() string {
		conds := make([]string, len(s.key))
		for i, k := range s.key {
			conds[i] = quoteIdent(k.Name) + " = ?"
		}
		return "DELETE FROM " + s.store.quoteTable(s.spec.Table) + " WHERE " + strings.Join(conds, " AND ")
	})
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// stmt returns the cached statement for sig, preparing it on the sink's
// connection the first time.
func (s *Sink) stmt(ctx context.Context, sig []byte, text func() string) (*sql.Stmt, error) {
	if st, ok := s.stmts[string(sig)]; ok {
		return st, nil
	}
	st, err := s.conn.PrepareContext(ctx, text())
	if err != nil {
		return nil, err
	}
	s.stmts[string(sig)] = st
	return st, nil
}

// explain rewrites the error of the key guard (see upsertSQL) to say what
// happened.
func (s *Sink) explain(err error) error {
	var me *gomysql.MySQLError
	if errors.As(err, &me) && me.Number == 1048 && len(s.key) > 0 &&
		strings.Contains(me.Message, "'"+s.key[0].Name+"'") {
		return fmt.Errorf("duplicate value on a unique secondary key: another row (with a different key) holds it: %w", err)
	}
	return err
}

// dataErrors are the server errors caused by one change's values: retrying
// cannot help, so the change is dead-lettered.
var dataErrors = map[uint16]string{
	1048: "column cannot be null",
	1062: "duplicate entry",
	1216: "foreign key: no parent row",
	1217: "foreign key: row is referenced",
	1264: "out of range",
	1265: "data truncated",
	1292: "incorrect value",
	1365: "division by zero",
	1366: "incorrect value",
	1406: "data too long",
	1451: "foreign key: row is referenced",
	1452: "foreign key: no parent row",
	1690: "value out of range",
	3140: "invalid JSON",
	3819: "check constraint violated",
	4025: "check constraint violated",
}

// foreignKey reports whether err is a foreign key violation: a missing
// parent row (1216, 1452) or a row still referenced (1217, 1451).
func foreignKey(err error) bool {
	var me *gomysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1216, 1217, 1451, 1452:
		return true
	}
	return false
}

// classify tells whether err concerns one change (apply) and whether
// retrying cannot help (permanent). Data errors are permanent; deadlocks,
// lock timeouts and connection errors are not about a change.
//
// A statement failing on a data error has no effect in InnoDB
// (statement-level rollback) and leaves the transaction open, so
// sqlsink.Applier can replay a failed multi-row upsert row by row to find
// the culprit, and the transaction stays usable for the changes after it.
func classify(err error) (apply, permanent bool) {
	if errors.Is(err, errConvert) {
		return true, true
	}
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		if _, ok := dataErrors[me.Number]; ok {
			return true, true
		}
	}
	return false, false
}
