package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// upsertRow is one encoded upsert: which columns it writes and their
// arguments in table order.
type upsertRow struct {
	cols []bool
	args []any
}

// encodeUpsert turns an upsert change into its row: the columns of After
// (generated columns skipped: the server computes them), plus key columns
// taken from Key when After lacks them.
func (s *Sink) encodeUpsert(c *change.Change) (upsertRow, error) {
	cols := make([]bool, len(s.t.cols))
	if s.vals == nil {
		s.vals = make([]change.Value, len(s.t.cols))
	}
	vals := s.vals // scratch: only read below, before the next change
	for name, v := range c.After {
		i, ok := s.index[name]
		if !ok {
			return upsertRow{}, fmt.Errorf("%w: column %q does not exist in table %q", errUnknownColumn, name, s.spec.Table)
		}
		if s.t.cols[i].Generated {
			continue
		}
		cols[i], vals[i] = true, v
	}
	for j, k := range s.key {
		i := s.index[k.Name]
		if !cols[i] {
			if j >= len(c.Key) {
				return upsertRow{}, fmt.Errorf("%w: key column %q has no value", errConvert, k.Name)
			}
			cols[i], vals[i] = true, c.Key[j]
		}
	}
	r := upsertRow{cols: cols, args: make([]any, 0, len(cols))}
	for i, ok := range cols {
		if !ok {
			continue
		}
		a, err := s.store.encode(&s.t.cols[i], vals[i])
		if err != nil {
			return upsertRow{}, err
		}
		r.args = append(r.args, a)
	}
	return r, nil
}

// applyUpserts applies the leading run of upserts of changes, grouping rows
// that write the same columns into multi-row statements. It returns how many
// changes it applied; on failure, an *ApplyError indexed within changes,
// with every change before it applied.
//
// A failed statement has no effect in InnoDB (statement-level rollback)
// and leaves the transaction open, so when a multi-row statement fails on
// a data error its rows are replayed one by one to find the culprit. The
// transaction stays usable for the changes after it.
func (s *Sink) applyUpserts(ctx context.Context, changes []change.Change) (int, error) {
	var group []upsertRow
	flush := func(base int) error {
		if len(group) == 0 {
			return nil
		}
		defer func() { group = group[:0] }()
		if len(group) > 1 {
			err := s.execUpsert(ctx, group)
			if err == nil {
				return nil
			}
			if apply, _ := classify(err); !apply {
				return fmt.Errorf("apply %d upserts to %q: %w", len(group), s.spec.Table, err)
			}
		}
		for j, r := range group {
			if err := s.execUpsert(ctx, []upsertRow{r}); err != nil {
				return applyError(base+j, &changes[base+j], s.explain(err))
			}
		}
		return nil
	}
	start, i := 0, 0
	refreshed := false
	for ; i < len(changes) && changes[i].Op != change.OpDelete; i++ {
		r, err := s.encodeUpsert(&changes[i])
		if errors.Is(err, errUnknownColumn) && !refreshed {
			// The table may have gained the column since the sink opened.
			refreshed = true
			if err := flush(start); err != nil {
				return 0, err
			}
			start = i
			if err := s.refresh(ctx); err != nil {
				return 0, err
			}
			r, err = s.encodeUpsert(&changes[i])
		}
		if err != nil {
			if ferr := flush(start); ferr != nil {
				return 0, ferr
			}
			return 0, applyError(i, &changes[i], err)
		}
		if len(group) > 0 && (!sameCols(group[0].cols, r.cols) || len(group) >= groupLimit(len(r.args))) {
			if err := flush(start); err != nil {
				return 0, err
			}
			start = i
		}
		group = append(group, r)
	}
	if err := flush(start); err != nil {
		return 0, err
	}
	return i, nil
}

func groupLimit(params int) int {
	n := upsertGroupRows
	if params > 0 && n*params > maxGroupParams {
		n = maxGroupParams / params
	}
	return max(n, 1)
}

func sameCols(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s *Sink) execUpsert(ctx context.Context, rows []upsertRow) error {
	sig := make([]byte, 0, len(rows[0].cols)+8)
	sig = fmt.Appendf(sig, "u%d:", len(rows))
	for _, ok := range rows[0].cols {
		if ok {
			sig = append(sig, '1')
		} else {
			sig = append(sig, '0')
		}
	}
	st, err := s.stmt(ctx, sig, func() string { return s.upsertSQL(rows[0].cols, len(rows)) })
	if err != nil {
		return err
	}
	args := rows[0].args
	if len(rows) > 1 {
		args = make([]any, 0, len(rows)*len(rows[0].args))
		for _, r := range rows {
			args = append(args, r.args...)
		}
	}
	_, err = st.ExecContext(ctx, args...)
	return err
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
	key := c.Key
	if len(key) == 0 && c.Before != nil {
		key, _ = change.KeyOf(c.Before, s.spec.Key)
	}
	if len(key) != len(s.key) {
		return fmt.Errorf("%w: delete has %d key values; the key has %d columns", errConvert, len(key), len(s.key))
	}
	args := make([]any, len(key))
	for i, v := range key {
		a, err := s.store.encode(s.key[i], v)
		if err != nil {
			return err
		}
		args[i] = a
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

// classify tells whether err concerns one change (apply) and whether
// retrying cannot help (permanent). Data errors are permanent; deadlocks,
// lock timeouts and connection errors are not about a change.
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

// applyError wraps the failure of change i as an *ApplyError when it is
// about that change, and returns other errors (the transaction is then
// unusable) as they are.
func applyError(i int, c *change.Change, err error) error {
	apply, perm := classify(err)
	if !apply {
		return fmt.Errorf("apply change %s: %w", c.ID, err)
	}
	return &connector.ApplyError{
		Index:     i,
		Err:       fmt.Errorf("%s %s key %s: %w", c.Op, c.Table, c.Key, err),
		Permanent: perm,
	}
}
