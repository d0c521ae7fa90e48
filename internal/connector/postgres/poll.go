package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/sqlpoll"
)

// dialect is PostgreSQL's SQL for the shared poller (`capture: poll`). It
// knows the table's column types so that values decode exactly as in
// snapshots and logical capture.
type dialect struct {
	types map[string]*pgType // by column name
}

var _ sqlpoll.Dialect = dialect{}

func (dialect) QuoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

func (dialect) QuoteTable(name string) string {
	schema, rel, err := splitTableName(name)
	if err != nil || schema == "" {
		return pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{schema, rel}.Sanitize()
}

func (dialect) Placeholder(n int) string { return fmt.Sprintf("$%d", n) }

// CursorExpr reads the column as is: pgx hands timestamps back as
// time.Time with their microseconds, which bind back to the same value.
func (dialect) CursorExpr(quoted string, _ connector.Column) string { return quoted }

// LagBound keeps timestamp and date poll columns lag behind the server's
// clock (now(), the start of the polling statement's transaction).
func (dialect) LagBound(quoted string, col connector.Column, lag time.Duration) string {
	if col.Kind != change.KindTimestamp && col.Kind != change.KindDate {
		return ""
	}
	return fmt.Sprintf("%s <= now() - interval '%d microseconds'", quoted, lag.Microseconds())
}

// Decode converts what pgx's database/sql adapter returns: int64, float64,
// bool and time.Time for those types, []byte for bytea and json, and text
// for everything else (decoded like pgoutput text).
func (d dialect) Decode(col connector.Column, raw any) (change.Value, error) {
	t := d.types[col.Name]
	if t == nil {
		t = &pgType{name: col.Type, kind: col.Kind}
	}
	switch x := raw.(type) {
	case nil:
		return change.Null, nil
	case int64:
		return change.Int(x), nil
	case float64:
		return change.Float(x), nil
	case bool:
		return change.Bool(x), nil
	case time.Time:
		if t.kind == change.KindDate {
			return change.Date(x), nil
		}
		return change.Timestamp(x), nil
	case []byte:
		if t.kind == change.KindBytes {
			return change.Bytes(append([]byte(nil), x...)), nil
		}
		return decodeText(t, string(x))
	case string:
		return decodeText(t, x)
	}
	return change.Value{}, fmt.Errorf("column %q: unexpected value of type %T", col.Name, raw)
}

// sqlDB returns the store's pool as a *sql.DB for sqlpoll, made once.
func (s *Store) sqlDB() *sql.DB {
	s.sqlOnce.Do(func() { s.sql = stdlib.OpenDBFromPool(s.pool) })
	return s.sql
}

// newPollSource returns a `capture: poll` source on the shared poller.
func newPollSource(_ context.Context, s *Store, spec connector.SourceSpec, tbl *table) (connector.Source, error) {
	key := spec.Key
	if len(key) == 0 {
		key = tbl.key
	}
	d := dialect{types: map[string]*pgType{}}
	ct := &connector.Table{Name: spec.Table, Key: tbl.key}
	for _, c := range tbl.cols {
		d.types[c.name] = c.typ
		ct.Columns = append(ct.Columns, connector.Column{
			Name: c.name, Type: c.declared, Kind: c.typ.kind, Nullable: c.nullable, Generated: c.generated,
		})
	}
	var cols []string
	if len(spec.Columns) > 0 {
		cols = append([]string(nil), key...)
		for _, c := range spec.Columns {
			if !contains(cols, c) {
				cols = append(cols, c)
			}
		}
	}
	q := keysetQuery{table: tbl.ident(), key: key, cols: cols}
	src, err := sqlpoll.NewSource(sqlpoll.Config{
		Store:   s.name,
		DB:      s.sqlDB(),
		Dialect: d,
		Table:   ct,
		Spec:    spec,
		Snapshot: func(ctx context.Context, after change.Key, limit int) ([]change.Change, error) {
			return snapshot(ctx, s, spec.Flow, spec.Table, q, after, limit)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("store %q: %w", s.name, err)
	}
	return src, nil
}
