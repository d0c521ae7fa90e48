package sqlpoll

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Dialect is what a SQL driver tells the poller about its SQL. Methods are
// pure (no I/O) and safe for concurrent use.
type Dialect interface {
	// QuoteIdent quotes one identifier.
	QuoteIdent(name string) string
	// QuoteTable quotes a table name as configured (possibly schema-qualified).
	QuoteTable(name string) string
	// Placeholder is the bind marker of the n-th parameter, from 1: "?" or "$n".
	Placeholder(n int) string
	// CursorExpr is the expression reading the quoted column's value for the
	// cursor exactly as stored, with no conversion by the database/sql driver
	// (SQLite's driver turns DATETIME text into time.Time, which would not
	// bind back to the same text). Usually just quoted.
	CursorExpr(quoted string, col connector.Column) string
	// LagBound is a predicate keeping the quoted poll column at least lag
	// behind the store's clock, or "" when the column has no clock (integer
	// versions).
	LagBound(quoted string, col connector.Column, lag time.Duration) string
	// Decode converts a value scanned from col into a typed Value.
	Decode(col connector.Column, raw any) (change.Value, error)
}

// Config is what NewSource needs.
type Config struct {
	Store   string // store name, for change IDs
	DB      *sql.DB
	Dialect Dialect
	Table   *connector.Table // the source table as described by the driver
	Spec    connector.SourceSpec
	// Snapshot reads one key-ordered backfill chunk; it is the driver's own
	// keyset reader, which polling has no reason to duplicate.
	Snapshot func(ctx context.Context, after change.Key, limit int) ([]change.Change, error)
}

// Stream timing: a caught-up stream polls every Spec.Poll.Every (defaultEvery
// when unset) and, while waiting, returns an empty batch at least every
// idleReturn so the engine observes progress.
const (
	defaultEvery = time.Second
	idleReturn   = time.Second
)

// Source is the capture side of one flow with `capture: poll`.
type Source struct {
	cfg   Config
	every time.Duration
	cols  []connector.Column // columns carried, in table order
	poll  connector.Column
	key   []connector.Column
	curs  []connector.Column // poll column then key columns: the cursor

	positionSQL string
	firstSQL    string // page from the empty cursor
	nextSQL     string // page after a cursor
}

var (
	_ connector.Source = (*Source)(nil)
	_ connector.Stream = (*stream)(nil)
)

// NewSource checks the spec against the table and prepares the queries. It
// does not touch the database.
func NewSource(cfg Config) (*Source, error) {
	t, spec := cfg.Table, cfg.Spec
	if cfg.DB == nil || cfg.Dialect == nil || t == nil || cfg.Snapshot == nil {
		return nil, errors.New("poll source: DB, Dialect, Table and Snapshot are required")
	}
	s := &Source{cfg: cfg, every: spec.Poll.Every}
	if s.every <= 0 {
		s.every = defaultEvery
	}
	if spec.Poll.Column == "" {
		return nil, fmt.Errorf("poll %q: poll.column is not set (an updated_at or version column)", spec.Table)
	}
	var ok bool
	if s.poll, ok = t.Column(spec.Poll.Column); !ok {
		return nil, fmt.Errorf("poll %q: poll column %q does not exist", spec.Table, spec.Poll.Column)
	}
	keyNames := spec.Key
	if len(keyNames) == 0 {
		keyNames = t.Key
	}
	if len(keyNames) == 0 {
		return nil, fmt.Errorf("poll %q: table has no primary key: add one or set the flow's key", spec.Table)
	}
	for _, k := range keyNames {
		c, ok := t.Column(k)
		if !ok {
			return nil, fmt.Errorf("poll %q: key column %q does not exist", spec.Table, k)
		}
		s.key = append(s.key, c)
	}
	s.curs = append([]connector.Column{s.poll}, s.key...)
	keep := map[string]bool{}
	for _, c := range append(append([]string{}, spec.Columns...), keyNames...) {
		if _, ok := t.Column(c); !ok {
			return nil, fmt.Errorf("poll %q: column %q does not exist", spec.Table, c)
		}
		keep[c] = true
	}
	for _, c := range t.Columns {
		if len(spec.Columns) == 0 || keep[c.Name] {
			s.cols = append(s.cols, c)
		}
	}
	s.buildSQL()
	return s, nil
}

// buildSQL prepares the three queries. Identifiers go through the dialect;
// cursor values and the limit are bound parameters.
func (s *Source) buildSQL() {
	d, spec := s.cfg.Dialect, s.cfg.Spec
	table := d.QuoteTable(spec.Table)
	pc := d.QuoteIdent(s.poll.Name)
	order := make([]string, len(s.curs))   // pc, k1, k2
	desc := make([]string, len(s.curs))    // pc DESC, k1 DESC, ...
	curExpr := make([]string, len(s.curs)) // what the cursor reads
	for i, c := range s.curs {
		q := d.QuoteIdent(c.Name)
		order[i], desc[i], curExpr[i] = q, q+" DESC", d.CursorExpr(q, c)
	}
	where := []string{pc + " IS NOT NULL"}
	if lag := d.LagBound(pc, s.poll, spec.Poll.Lag); lag != "" {
		where = append(where, lag)
	}
	sel := make([]string, 0, len(s.cols)+len(curExpr))
	for _, c := range s.cols {
		sel = append(sel, d.QuoteIdent(c.Name))
	}
	sel = append(sel, curExpr...)

	s.positionSQL = "SELECT " + strings.Join(curExpr, ", ") + " FROM " + table +
		" WHERE " + strings.Join(where, " AND ") + " ORDER BY " + strings.Join(desc, ", ") + " LIMIT 1"
	head := "SELECT " + strings.Join(sel, ", ") + " FROM " + table + " WHERE "
	tail := " ORDER BY " + strings.Join(order, ", ") + " LIMIT "
	s.firstSQL = head + strings.Join(where, " AND ") + tail + d.Placeholder(1)
	marks := make([]string, len(s.curs))
	for i := range marks {
		marks[i] = d.Placeholder(i + 1)
	}
	after := "(" + strings.Join(order, ", ") + ") > (" + strings.Join(marks, ", ") + ")"
	s.nextSQL = head + strings.Join(append([]string{after}, where...), " AND ") + tail + d.Placeholder(len(marks)+1)
}

// Position returns the cursor of the greatest row within the lag bound, or
// the empty cursor when there is none.
func (s *Source) Position(ctx context.Context) (change.Position, error) {
	raw := make([]any, len(s.curs))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	err := s.cfg.DB.QueryRowContext(ctx, s.positionSQL).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return Cursor{}.Bytes(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("position of %q: %w", s.cfg.Spec.Table, err)
	}
	c, err := cursorOf(raw)
	if err != nil {
		return nil, fmt.Errorf("position of %q: %w", s.cfg.Spec.Table, err)
	}
	return c.Bytes(), nil
}

// Snapshot reads one key-ordered backfill chunk through the driver.
func (s *Source) Snapshot(ctx context.Context, after change.Key, limit int) ([]change.Change, error) {
	return s.cfg.Snapshot(ctx, after, limit)
}

// Compare orders two positions of this source.
func (s *Source) Compare(a, b change.Position) (int, error) {
	ca, cb, err := connector.ParseBoth(ParseCursor, a, b)
	if err != nil {
		return 0, err
	}
	return ca.Compare(cb), nil
}

// Stream opens the change stream after from.
func (s *Source) Stream(ctx context.Context, from change.Position) (connector.Stream, error) {
	c, err := ParseCursor(from)
	if err != nil {
		return nil, err
	}
	if len(c) != 0 && len(c) != len(s.curs) {
		return nil, fmt.Errorf("stream %q: position %s has %d values, the cursor (%s and key) has %d",
			s.cfg.Spec.Table, from, len(c), s.poll.Name, len(s.curs))
	}
	return &stream{src: s, cursor: c}, nil
}

// stream polls one table.
type stream struct {
	src      *Source
	cursor   Cursor
	caughtUp bool      // the last poll read less than a full page
	lastPoll time.Time // when it ran
	closed   bool
}

// Next polls once, or waits for the next poll when caught up. Every page ends
// on a boundary.
func (st *stream) Next(ctx context.Context, max int) (connector.Batch, error) {
	if st.closed {
		return connector.Batch{}, errors.New("next: stream is closed")
	}
	if max <= 0 {
		return connector.Batch{}, fmt.Errorf("next: max must be positive, got %d", max)
	}
	if st.caughtUp {
		if wait := time.Until(st.lastPoll.Add(st.src.every)); wait > 0 {
			idle := min(wait, idleReturn)
			if err := sleep(ctx, idle); err != nil {
				return connector.Batch{}, err
			}
			if wait > idle {
				return connector.Batch{Position: st.cursor.Bytes(), CaughtUp: true}, nil
			}
		}
	}
	changes, last, err := st.src.page(ctx, st.cursor, max)
	if err != nil {
		return connector.Batch{}, fmt.Errorf("poll %q: %w", st.src.cfg.Spec.Table, err)
	}
	st.lastPoll = time.Now()
	st.caughtUp = len(changes) < max
	if len(changes) > 0 {
		st.cursor = last
	}
	return connector.Batch{Changes: changes, Position: st.cursor.Bytes(), CaughtUp: st.caughtUp}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// page reads up to max rows after cursor c.
func (s *Source) page(ctx context.Context, c Cursor, max int) ([]change.Change, Cursor, error) {
	query, args := s.firstSQL, []any{max}
	if len(c) > 0 {
		query, args = s.nextSQL, make([]any, 0, len(c)+1)
		for _, v := range c {
			args = append(args, cursorArg(v))
		}
		args = append(args, max)
	}
	rows, err := s.cfg.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	n := len(s.cols)
	raw := make([]any, n+len(s.curs))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var (
		out  []change.Change
		last Cursor
	)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		if last, err = cursorOf(raw[n:]); err != nil {
			return nil, nil, err
		}
		ch, err := s.change(raw[:n], last)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, ch)
	}
	return out, last, rows.Err()
}

func (s *Source) change(raw []any, cur Cursor) (change.Change, error) {
	row := make(change.Row, len(s.cols))
	for i, c := range s.cols {
		v, err := s.cfg.Dialect.Decode(c, raw[i])
		if err != nil {
			return change.Change{}, fmt.Errorf("column %q: %w", c.Name, err)
		}
		row[c.Name] = v
	}
	key := make(change.Key, len(s.key))
	for i, k := range s.key {
		key[i] = row[k.Name]
	}
	spec := s.cfg.Spec
	ch := change.Change{
		ID:       s.cfg.Store + ":" + spec.Table + ":poll:" + cur.String(),
		Flow:     spec.Flow,
		Op:       change.OpUpdate,
		Table:    spec.Table,
		Key:      key,
		After:    row,
		Position: cur.Bytes(),
	}
	if v, ok := row[s.poll.Name]; ok && v.Kind == change.KindTimestamp {
		ch.CommitTime = v.AsTime()
	}
	return ch, nil
}

// Ack does nothing: the cursor is the sink's checkpoint, and a table has no
// log to release.
func (st *stream) Ack(context.Context, change.Position) error { return nil }

// Close stops the stream. It holds no connection between calls.
func (st *stream) Close() error {
	st.closed = true
	return nil
}

// cursorOf builds a cursor from raw scanned values, kept as stored.
func cursorOf(raw []any) (Cursor, error) {
	c := make(Cursor, len(raw))
	for i, r := range raw {
		v, err := cursorValue(r)
		if err != nil {
			return nil, err
		}
		c[i] = v
	}
	return c, nil
}

// cursorValue carries a raw database/sql value with its type, so that it
// binds back as the same value (cursorArg).
func cursorValue(raw any) (change.Value, error) {
	switch x := raw.(type) {
	case nil:
		return change.Null, nil
	case int64:
		return change.Int(x), nil
	case int32:
		return change.Int(int64(x)), nil
	case int:
		return change.Int(int64(x)), nil
	case float64:
		return change.Float(x), nil
	case bool:
		return change.Bool(x), nil
	case string:
		return change.Text(x), nil
	case []byte:
		return change.Bytes(append([]byte(nil), x...)), nil
	case time.Time:
		return change.Timestamp(x), nil
	}
	return change.Value{}, fmt.Errorf("cursor value of type %T is not supported", raw)
}

// cursorArg is the inverse of cursorValue.
func cursorArg(v change.Value) any {
	switch v.Kind {
	case change.KindNull:
		return nil
	case change.KindInt:
		return v.AsInt()
	case change.KindFloat:
		return v.AsFloat()
	case change.KindBool:
		return v.AsBool()
	case change.KindBytes:
		return v.AsBytes()
	case change.KindTimestamp:
		return v.AsTime()
	}
	return v.String()
}
