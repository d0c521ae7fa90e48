package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// table is a described table with what decoding and encoding need beyond
// connector.Column. cols[i] describes Table.Columns[i].
type table struct {
	*connector.Table
	schema, name string
	cols         []column
}

// column is one column's type details.
type column struct {
	connector.Column
	dataType string   // DATA_TYPE, lower case: "int", "datetime", "enum"
	unsigned bool     // an UNSIGNED integer type
	elems    []string // ENUM / SET members in declaration order
	fixedLen int      // the n of BINARY(n): binlog values are padded back to it
	charset  string   // CHARACTER_SET_NAME of text columns
}

// column returns the described column named name.
func (t *table) column(name string) (*column, bool) {
	for i := range t.cols {
		if t.cols[i].Name == name {
			return &t.cols[i], true
		}
	}
	return nil, false
}

// Describe returns the shape of table ("db.table", or "table" in the DSN's
// database) from information_schema.
func (s *Store) Describe(ctx context.Context, tableName string) (*connector.Table, error) {
	t, err := s.describe(ctx, s.db, tableName)
	if err != nil {
		return nil, fmt.Errorf("describe %q: %w", tableName, err)
	}
	return t.Table, nil
}

// describe reads columns, types and the primary key of a table. Generated
// columns are kept and marked; a missing table wraps ErrTableNotFound.
func (s *Store) describe(ctx context.Context, q queryer, tableName string) (*table, error) {
	schema, name := s.splitTable(tableName)
	if schema == "" {
		return nil, fmt.Errorf("no database: qualify the table as db.table or name a database in the DSN")
	}
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, EXTRA,
			COALESCE(CHARACTER_SET_NAME, '')
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
		ORDER BY ORDINAL_POSITION`, schema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := &table{Table: &connector.Table{Name: tableName}, schema: schema, name: name}
	for rows.Next() {
		var (
			c                   column
			nullable, extra, ty string
		)
		if err := rows.Scan(&c.Name, &c.Type, &ty, &nullable, &extra, &c.charset); err != nil {
			return nil, err
		}
		c.dataType = strings.ToLower(ty)
		c.Nullable = nullable == "YES"
		up := strings.ToUpper(extra)
		// MySQL marks DEFAULT CURRENT_TIMESTAMP columns "DEFAULT_GENERATED":
		// those are ordinary columns.
		c.Generated = strings.Contains(up, "VIRTUAL GENERATED") || strings.Contains(up, "STORED GENERATED") ||
			strings.Contains(up, "PERSISTENT GENERATED")
		t.cols = append(t.cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(t.cols) == 0 {
		return nil, connector.ErrTableNotFound
	}
	jsonCols, err := s.mariaJSONColumns(ctx, q, schema, name)
	if err != nil {
		return nil, err
	}
	for i := range t.cols {
		c := &t.cols[i]
		lt := strings.ToLower(c.Type)
		c.unsigned = strings.Contains(lt, "unsigned")
		c.Kind = kindOf(c.dataType, lt, c.unsigned, jsonCols[c.Name])
		switch c.dataType {
		case "enum", "set":
			c.elems = parseElems(c.Type)
		case "binary":
			c.fixedLen = typeLength(lt)
		}
		t.Columns = append(t.Columns, c.Column)
	}
	if t.Key, err = primaryKey(ctx, q, schema, name); err != nil {
		return nil, err
	}
	return t, nil
}

// mariaJSONColumns finds MariaDB's JSON columns: JSON is an alias of
// LONGTEXT there, recognisable only by its json_valid() check constraint.
func (s *Store) mariaJSONColumns(ctx context.Context, q queryer, schema, name string) (map[string]bool, error) {
	out := map[string]bool{}
	if s.flavor != flavorMariaDB {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, schema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var cname, clause string
		if err := rows.Scan(&cname, &clause); err != nil {
			return nil, err
		}
		if strings.EqualFold(strings.ReplaceAll(clause, " ", ""), "json_valid("+quoteIdent(cname)+")") {
			out[cname] = true
		}
	}
	return out, rows.Err()
}

func primaryKey(ctx context.Context, q queryer, schema, name string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY'
		ORDER BY ORDINAL_POSITION`, schema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var key []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		key = append(key, c)
	}
	return key, rows.Err()
}

// parseElems reads the members of "enum('a','b”c')" or "set(...)".
func parseElems(columnType string) []string {
	open := strings.IndexByte(columnType, '(')
	end := strings.LastIndexByte(columnType, ')')
	if open < 0 || end <= open {
		return nil
	}
	body := columnType[open+1 : end]
	var (
		out []string
		cur strings.Builder
		in  bool
	)
	for i := 0; i < len(body); i++ {
		ch := body[i]
		switch {
		case !in && ch == '\'':
			in = true
		case in && ch == '\'' && i+1 < len(body) && body[i+1] == '\'':
			cur.WriteByte('\'')
			i++
		case in && ch == '\'':
			in = false
			out = append(out, cur.String())
			cur.Reset()
		case in && ch == '\\' && i+1 < len(body):
			cur.WriteByte(body[i+1])
			i++
		case in:
			cur.WriteByte(ch)
		}
	}
	return out
}

// typeLength reads n from "binary(n)".
func typeLength(columnType string) int {
	open := strings.IndexByte(columnType, '(')
	end := strings.IndexByte(columnType, ')')
	if open < 0 || end <= open {
		return 0
	}
	n, _ := strconv.Atoi(columnType[open+1 : end])
	return n
}

// CountRows estimates the rows of table from information_schema (InnoDB's
// statistics, cheap but approximate), counting them when there is no
// estimate.
func (s *Store) CountRows(ctx context.Context, tableName string) (int64, error) {
	schema, name := s.splitTable(tableName)
	var est sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT TABLE_ROWS FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, schema, name).Scan(&est)
	if err == sql.ErrNoRows {
		return 0, fmt.Errorf("count rows of %q: %w", tableName, connector.ErrTableNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("count rows of %q: %w", tableName, err)
	}
	if est.Valid && est.Int64 > 0 {
		return est.Int64, nil
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.quoteTable(tableName)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows of %q: %w", tableName, err)
	}
	return n, nil
}
