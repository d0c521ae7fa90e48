package mysql

import (
	"context"
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/sqlpoll"
)

// dialect is MySQL's SQL for the shared poller.
type dialect struct {
	s *Store
	t *table
}

var _ sqlpoll.Dialect = dialect{}

func (d dialect) QuoteIdent(name string) string { return quoteIdent(name) }
func (d dialect) QuoteTable(name string) string { return d.s.quoteTable(name) }
func (dialect) Placeholder(int) string          { return "?" }

// CursorExpr reads the column as stored: with parseTime off, temporal
// values arrive as their exact text and bind back as the same text.
func (dialect) CursorExpr(quoted string, _ connector.Column) string { return quoted }

// LagBound keeps temporal poll columns lag behind the server's clock,
// NOW(6) in the session time zone (UTC, set on every connection), which is
// what TIMESTAMP columns are read in. A DATETIME column is compared as the
// server's wall clock reads it in UTC, so a DATETIME poll column should hold
// UTC (or set the DSN's time_zone to the zone it holds).
func (dialect) LagBound(quoted string, col connector.Column, lag time.Duration) string {
	if col.Kind != change.KindTimestamp && col.Kind != change.KindDate {
		return ""
	}
	return fmt.Sprintf("%s <= NOW(6) - INTERVAL %d MICROSECOND", quoted, lag.Microseconds())
}

func (d dialect) Decode(col connector.Column, raw any) (change.Value, error) {
	c, ok := d.t.column(col.Name)
	if !ok {
		return change.Value{}, fmt.Errorf("column %q is not in table %q", col.Name, d.t.Name)
	}
	v, err := d.s.decode(c, raw)
	if err != nil {
		return d.s.zeroDate(err, d.t.Name, nil) // the poller names the column, not the key
	}
	return v, nil
}

// newPollSource returns a `capture: poll` source for spec.
func newPollSource(ctx context.Context, s *Store, spec connector.SourceSpec) (connector.Source, error) {
	t, err := s.describe(ctx, s.db, spec.Table)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	key, err := keyColumns(t.Table, spec.Key)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	ks, err := s.newKeyset(t, key, spec.Columns)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	spec.Key = key
	return sqlpoll.NewSource(sqlpoll.Config{
		Store:   s.name,
		DB:      s.db,
		Dialect: dialect{s: s, t: t},
		Table:   t.Table,
		Spec:    spec,
		Snapshot: func(ctx context.Context, after change.Key, limit int) ([]change.Change, error) {
			return s.snapshot(ctx, ks, spec.Flow, after, limit)
		},
	})
}
