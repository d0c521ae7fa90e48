package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// Driver opens MySQL and MariaDB stores: `driver: mysql`.
type Driver struct{}

var _ connector.Driver = Driver{}

// Name is the value of `driver:` in the config.
func (Driver) Name() string { return "mysql" }

// Open opens the store; see Open.
func (Driver) Open(ctx context.Context, cfg connector.StoreConfig, log *slog.Logger) (connector.Store, error) {
	s, err := Open(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// flavor is the server family: their SQL and binlog protocols differ.
type flavor int

const (
	flavorMySQL flavor = iota + 1
	flavorMariaDB
)

// Store is one MySQL or MariaDB server, scoped to the DSN's database.
type Store struct {
	name    string
	capture connector.Capture
	db      *sql.DB
	cfg     *gomysql.Config // parsed DSN; holds the password: never print it
	log     *slog.Logger

	flavor    flavor
	version   string         // VERSION()
	defaultDB string         // DATABASE() of the DSN: tables without a "db." prefix live here
	loc       *time.Location // how DATETIME (zone-less) values are read and written
	rowAlias  bool           // upserts name the incoming row (MySQL 8.0.20+) instead of VALUES()
	zero      *zeroDates     // zero_dates: what reading a zero date does (types.go)
}

var (
	_ connector.Store          = (*Store)(nil)
	_ connector.Scanner        = (*Store)(nil)
	_ connector.CaptureChecker = (*Store)(nil)
	_ connector.RowCounter     = (*Store)(nil)
)

// sessionSQLMode is set on every connection unless the DSN sets sql_mode:
// strict, so a bad value fails its statement instead of being truncated or
// zeroed, and without ANSI_QUOTES, so backtick quoting is the only quoting.
const sessionSQLMode = "'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"

// Open connects to the server named by cfg.DSN, a go-sql-driver/mysql DSN
// ("user:password@tcp(host:3306)/db?loc=Europe%2FParis"). It writes
// nothing. Every connection gets time_zone '+00:00' (TIMESTAMP values are
// exchanged in UTC) and a strict sql_mode; temporal values are read as text
// (parseTime is forced off) and converted here, so microseconds are exact.
// The DSN's loc (default UTC) is the zone DATETIME values are taken to be in.
func Open(ctx context.Context, cfg connector.StoreConfig, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DSN == "" {
		return nil, fmt.Errorf("mysql store %q: dsn is empty: set it to user:password@tcp(host:3306)/database", cfg.Name)
	}
	zero, err := newZeroDates(cfg.ZeroDates)
	if err != nil {
		return nil, fmt.Errorf("mysql store %q: %w", cfg.Name, err)
	}
	mc, err := gomysql.ParseDSN(cfg.DSN)
	if err != nil {
		// The driver's parse errors never quote the DSN, so the password is safe.
		return nil, fmt.Errorf("mysql store %q: dsn: %w", cfg.Name, err)
	}
	loc := mc.Loc
	if loc == nil {
		loc = time.UTC
	}
	mc.ParseTime = false
	mc.InterpolateParams = false
	mc.MultiStatements = false
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	if _, ok := mc.Params["time_zone"]; !ok {
		mc.Params["time_zone"] = "'+00:00'"
	}
	if _, ok := mc.Params["sql_mode"]; !ok {
		mc.Params["sql_mode"] = sessionSQLMode
	}
	conn, err := gomysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("mysql store %q: %w", cfg.Name, err)
	}
	db := sql.OpenDB(conn)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{name: cfg.Name, capture: cfg.Capture, db: db, cfg: mc, log: log, loc: loc, zero: zero}
	var dbName sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), DATABASE()").Scan(&s.version, &dbName); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql store %q: connect to %s: %w", cfg.Name, mc.Addr, err)
	}
	s.defaultDB = dbName.String
	s.flavor = flavorMySQL
	if strings.Contains(strings.ToLower(s.version), "mariadb") {
		s.flavor = flavorMariaDB
	}
	s.rowAlias = s.flavor == flavorMySQL && versionAtLeast(s.version, 8, 0, 20)
	return s, nil
}

// Close releases the store's connections.
func (s *Store) Close() error { return s.db.Close() }

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// quoteIdent quotes one identifier with backticks, doubling embedded ones.
// Every identifier in generated SQL goes through it.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// splitTable splits a config table name ("t" in the DSN's database, or
// "db.t") with connector.SplitTableName: a part holding a dot or a quote is
// written double-quoted ("odd.name"), as for every driver.
func (s *Store) splitTable(table string) (schema, name string) {
	db, t, err := connector.SplitTableName(table)
	if err != nil {
		return s.defaultDB, table // Describe then reports the table as missing
	}
	if db == "" {
		db = s.defaultDB
	}
	return db, t
}

// quoteTable quotes a table name as configured, always database-qualified.
func (s *Store) quoteTable(table string) string {
	schema, name := s.splitTable(table)
	if schema == "" {
		return quoteIdent(name)
	}
	return quoteIdent(schema) + "." + quoteIdent(name)
}

// captureOf returns the capture mode of a spec, defaulting to the store's.
func (s *Store) captureOf(c connector.Capture) connector.Capture {
	if c != "" {
		return c
	}
	return s.capture
}

// Source returns the capture side of one flow: binlog, trigger or poll
// capture.
func (s *Store) Source(ctx context.Context, spec connector.SourceSpec) (connector.Source, error) {
	switch c := s.captureOf(spec.Capture); c {
	case connector.CaptureBinlog:
		return newBinlogSource(ctx, s, spec)
	case connector.CaptureTrigger:
		return newTriggerSource(ctx, s, spec)
	case connector.CapturePoll:
		return newPollSource(ctx, s, spec)
	default:
		return nil, unsupportedCapture(c)
	}
}

func unsupportedCapture(c connector.Capture) error {
	switch c {
	case "":
		return errors.New("capture is not set: use binlog, trigger or poll")
	}
	return fmt.Errorf("capture: %s is not supported by driver mysql; use binlog, trigger or poll", c)
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

// versionAtLeast reports whether a VERSION() string ("8.0.36-log",
// "10.11.19-MariaDB") is at least major.minor.patch.
func versionAtLeast(version string, want ...int) bool {
	num, _, _ := strings.Cut(version, "-")
	parts := strings.Split(num, ".")
	for i, w := range want {
		if i >= len(parts) {
			return false
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return false
		}
		if n != w {
			return n > w
		}
	}
	return true
}
