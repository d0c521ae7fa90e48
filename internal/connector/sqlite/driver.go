package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/syncbridge/syncbridge/internal/connector"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeoutMS is how long a connection waits for SQLite's single writer
// lock before failing with SQLITE_BUSY.
const busyTimeoutMS = 10000

// Driver opens SQLite stores: `driver: sqlite`.
type Driver struct{}

var _ connector.Driver = Driver{}

// Name is the value of `driver:` in the config.
func (Driver) Name() string { return "sqlite" }

// Open opens the store; see Open.
func (Driver) Open(ctx context.Context, cfg connector.StoreConfig, log *slog.Logger) (connector.Store, error) {
	s, err := Open(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Store is one SQLite database file.
type Store struct {
	name    string
	path    string
	capture connector.Capture
	db      *sql.DB
	log     *slog.Logger

	walMu    sync.Mutex
	walTried bool
}

var (
	_ connector.Store          = (*Store)(nil)
	_ connector.Scanner        = (*Store)(nil)
	_ connector.CaptureChecker = (*Store)(nil)
	_ connector.RowCounter     = (*Store)(nil)
)

// Open opens the SQLite file named by cfg.DSN: a path, or a "file:" URI with
// query parameters. It creates and writes nothing (validate opens stores): a
// missing file is an error, and the connection is opened read-write without
// the create flag. Switching the file to WAL mode is a write, so it happens
// on the first Prepare or sink transaction instead (see ensureWAL).
func Open(ctx context.Context, cfg connector.StoreConfig, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path, query, err := splitDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("sqlite store %q: %w", cfg.Name, err)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("sqlite store %q: file %s does not exist", cfg.Name, path)
	case err != nil:
		return nil, fmt.Errorf("sqlite store %q: %w", cfg.Name, err)
	case fi.IsDir():
		return nil, fmt.Errorf("sqlite store %q: %s is a directory, not a database file", cfg.Name, path)
	}
	db, err := sql.Open("sqlite", buildDSN(path, query))
	if err != nil {
		return nil, fmt.Errorf("sqlite store %q: %w", cfg.Name, err)
	}
	// A query proves the file is a database (Ping alone does not read it).
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %q: open %s: %w", cfg.Name, path, err)
	}
	return &Store{name: cfg.Name, path: path, capture: cfg.Capture, db: db, log: log}, nil
}

// splitDSN separates the file path from the query of a DSN.
func splitDSN(dsn string) (path string, query url.Values, err error) {
	if dsn == "" {
		return "", nil, errors.New("dsn is empty: set it to the database file's path")
	}
	raw := dsn
	isURI := strings.HasPrefix(raw, "file:")
	if isURI {
		raw = strings.TrimPrefix(raw, "file:")
	}
	path, q, _ := strings.Cut(raw, "?")
	if isURI {
		if path, err = url.PathUnescape(path); err != nil {
			return "", nil, fmt.Errorf("dsn path: %w", err)
		}
	}
	if path == "" || path == ":memory:" || strings.Contains(q, "mode=memory") {
		return "", nil, errors.New("dsn must name a database file (in-memory databases are not shared between connections)")
	}
	query, err = url.ParseQuery(q)
	if err != nil {
		return "", nil, fmt.Errorf("dsn query: %w", err)
	}
	return path, query, nil
}

// buildDSN returns the modernc URI for path: read-write without create, with
// a busy timeout so writers queue for SQLite's single write lock instead of
// failing. User parameters win over the defaults.
func buildDSN(path string, query url.Values) string {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	if q.Get("mode") == "" {
		q.Set("mode", "rw")
	}
	hasBusy := q.Get("_busy_timeout") != "" || q.Get("_timeout") != ""
	for _, p := range q["_pragma"] {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), "busy_timeout") {
			hasBusy = true
		}
	}
	if !hasBusy {
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	}
	// SQLite decodes %XX in URI paths; escape what would otherwise end the path.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

// ensureWAL switches the database to WAL journal mode so readers (capture,
// reconciliation) never block the writer. The mode is persistent in the
// file, so this is tried once per store: switching needs a moment without
// other connections, and a rollback journal is slower, not wrong.
func (s *Store) ensureWAL(ctx context.Context) {
	s.walMu.Lock()
	defer s.walMu.Unlock()
	if s.walTried {
		return
	}
	s.walTried = true
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err == nil && strings.EqualFold(mode, "wal") {
		return
	}
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		s.log.Warn("database stays in rollback-journal mode; readers and the writer will wait for each other",
			"store", s.name, "journal_mode", mode, "error", err)
	}
}

// Close releases the store's connections.
func (s *Store) Close() error { return s.db.Close() }

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Describe returns the shape of table from PRAGMA table_xinfo.
func (s *Store) Describe(ctx context.Context, table string) (*connector.Table, error) {
	t, err := describe(ctx, s.db, table)
	if err != nil {
		return nil, fmt.Errorf("describe %q: %w", table, err)
	}
	return t, nil
}

// describe reads the columns of table. Hidden columns of virtual tables are
// left out; generated columns are kept and marked.
func describe(ctx context.Context, q queryer, table string) (*connector.Table, error) {
	schema, name := splitTable(table)
	rows, err := q.QueryContext(ctx,
		`SELECT name, type, "notnull", pk, hidden FROM pragma_table_xinfo(?, ?) ORDER BY cid`, name, schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := &connector.Table{Name: table}
	type pkCol struct {
		name string
		pos  int
	}
	var pks []pkCol
	for rows.Next() {
		var (
			col              connector.Column
			notNull, pk, hid int
		)
		if err := rows.Scan(&col.Name, &col.Type, &notNull, &pk, &hid); err != nil {
			return nil, err
		}
		if hid == 1 {
			continue
		}
		col.Kind = kindOf(col.Type)
		col.Nullable = notNull == 0
		col.Generated = hid == 2 || hid == 3
		if pk > 0 {
			pks = append(pks, pkCol{col.Name, pk})
		}
		t.Columns = append(t.Columns, col)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(t.Columns) == 0 {
		return nil, connector.ErrTableNotFound
	}
	sort.Slice(pks, func(i, j int) bool { return pks[i].pos < pks[j].pos })
	for _, p := range pks {
		t.Key = append(t.Key, p.name)
	}
	return t, nil
}

// splitTable splits a config table name ("t", "main.t", "aux.t" for an
// attached database) with connector.SplitTableName: a name holding a dot or
// a quote is written double-quoted ("odd.name"), as for every driver.
func splitTable(table string) (schema, name string) {
	s, n, err := connector.SplitTableName(table)
	if err != nil {
		return "main", table // Describe then reports the table as missing
	}
	if s == "" {
		s = "main"
	}
	return s, n
}

// quoteIdent quotes one identifier; every identifier in generated SQL goes
// through it.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteTable quotes a possibly schema-qualified table name.
func quoteTable(table string) string {
	schema, name := splitTable(table)
	return quoteIdent(schema) + "." + quoteIdent(name)
}

// quoteLiteral quotes a string literal. It is only for DDL (trigger bodies),
// where SQLite accepts no bound parameters.
func quoteLiteral(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// withImmediateTx runs fn in a BEGIN IMMEDIATE transaction on one
// connection. IMMEDIATE takes the write lock up front, so the busy timeout
// applies; a deferred transaction that upgrades from read to write can fail
// at once with SQLITE_BUSY.
func withImmediateTx(ctx context.Context, db *sql.DB, fn func(q queryer) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(conn); err != nil {
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	return nil
}

// captureOf returns the capture mode of a spec, defaulting to the store's.
func (s *Store) captureOf(c connector.Capture) connector.Capture {
	if c != "" {
		return c
	}
	return s.capture
}

// Source returns the capture side of one flow: trigger or poll capture.
func (s *Store) Source(ctx context.Context, spec connector.SourceSpec) (connector.Source, error) {
	switch c := s.captureOf(spec.Capture); c {
	case connector.CaptureTrigger:
		return newTriggerSource(ctx, s, spec)
	case connector.CapturePoll:
		return newPollSource(ctx, s, spec)
	default:
		return nil, unsupportedCapture(c)
	}
}

func unsupportedCapture(c connector.Capture) error {
	if c == "" {
		return errors.New("capture is not set: use trigger or poll")
	}
	return fmt.Errorf("capture: %s is not supported by driver sqlite; use trigger or poll", c)
}

// CheckCapture tells, without writing, whether the flow's capture mode can
// work on its table.
func (s *Store) CheckCapture(ctx context.Context, spec connector.SourceSpec) error {
	c := s.captureOf(spec.Capture)
	if c != connector.CaptureTrigger && c != connector.CapturePoll {
		return unsupportedCapture(c)
	}
	t, err := s.Describe(ctx, spec.Table)
	if err != nil {
		return err
	}
	schema, name := splitTable(spec.Table)
	var kind string
	if err := s.db.QueryRowContext(ctx, `SELECT type FROM `+quoteIdent(schema)+`.sqlite_master WHERE name = ?`,
		name).Scan(&kind); err != nil {
		return fmt.Errorf("check capture of %q: %w", spec.Table, err)
	}
	if kind != "table" {
		return fmt.Errorf("capture: %s needs a table, but %q is a %s", c, spec.Table, kind)
	}
	if _, err := keyColumns(t, spec.Key); err != nil {
		return fmt.Errorf("capture: %s: %w", c, err)
	}
	if c == connector.CapturePoll {
		if spec.Poll.Column == "" {
			return fmt.Errorf("capture: poll of %q needs poll.column (an updated_at or version column)", spec.Table)
		}
		if _, ok := t.Column(spec.Poll.Column); !ok {
			return fmt.Errorf("capture: poll column %q does not exist in table %q", spec.Poll.Column, spec.Table)
		}
	}
	return nil
}

// keyColumns returns the key of a flow: the configured columns, checked to
// exist, or else the table's primary key. A table without either is refused.
func keyColumns(t *connector.Table, key []string) ([]string, error) {
	if len(key) == 0 {
		if len(t.Key) == 0 {
			return nil, fmt.Errorf("table %q has no primary key: add one or set the flow's key", t.Name)
		}
		return t.Key, nil
	}
	for _, k := range key {
		if _, ok := t.Column(k); !ok {
			return nil, fmt.Errorf("key column %q does not exist in table %q", k, t.Name)
		}
	}
	return key, nil
}
