package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/sqlpoll"
)

// dialect is SQLite's SQL for the shared poller.
type dialect struct{}

var _ sqlpoll.Dialect = dialect{}

func (dialect) QuoteIdent(name string) string { return quoteIdent(name) }
func (dialect) QuoteTable(name string) string { return quoteTable(name) }
func (dialect) Placeholder(int) string        { return "?" }

// CursorExpr reads the stored value through unary plus, a no-op that drops
// the column's declared type, so the driver does not parse DATETIME text into
// time.Time: the cursor must bind back as the very text stored, or text
// comparison against other formats ("2024-05-06 07:08:09" as written by
// CURRENT_TIMESTAMP) would go wrong.
func (dialect) CursorExpr(quoted string, _ connector.Column) string { return "+" + quoted }

// LagBound compares instants with julianday, which reads every text form of
// SQLite's date functions and is computed from the store's clock ('now').
// Timestamps are expected as such text; integer and real poll columns are
// versions with no clock.
func (dialect) LagBound(quoted string, col connector.Column, lag time.Duration) string {
	if col.Kind != change.KindTimestamp && col.Kind != change.KindDate {
		return ""
	}
	return fmt.Sprintf("julianday(%s) <= julianday('now', '-%.6f seconds')", quoted, lag.Seconds())
}

func (dialect) Decode(col connector.Column, raw any) (change.Value, error) {
	return readValue(col, raw), nil
}

// newPollSource returns a `capture: poll` source for spec.
func newPollSource(ctx context.Context, s *Store, spec connector.SourceSpec) (connector.Source, error) {
	t, err := s.Describe(ctx, spec.Table)
	if err != nil {
		return nil, err
	}
	key, err := keyColumns(t, spec.Key)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	ks, err := newKeyset(t, spec.Table, key, spec.Columns)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	spec.Key = key
	return sqlpoll.NewSource(sqlpoll.Config{
		Store:   s.name,
		DB:      s.db,
		Dialect: dialect{},
		Table:   t,
		Spec:    spec,
		Snapshot: func(ctx context.Context, after change.Key, limit int) ([]change.Change, error) {
			out, err := snapshot(ctx, s, ks, after, limit)
			for i := range out {
				out[i].Flow = spec.Flow
			}
			return out, err
		},
	})
}
