package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// Driver opens PostgreSQL stores (`driver: postgres`).
type Driver struct{}

var _ connector.Driver = Driver{}

// Name is "postgres".
func (Driver) Name() string { return "postgres" }

// Open connects to the store and pings it. It writes nothing. Errors never
// contain the DSN's password: see redact.
func (Driver) Open(ctx context.Context, cfg connector.StoreConfig, log *slog.Logger) (connector.Store, error) {
	secrets := dsnSecrets(cfg.DSN)
	poolCfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, redact(fmt.Errorf("store %q: parse dsn: %w", cfg.Name, err), secrets)
	}
	replCfg, err := pgconn.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, redact(fmt.Errorf("store %q: parse dsn: %w", cfg.Name, err), secrets)
	}
	for _, rp := range []map[string]string{poolCfg.ConnConfig.RuntimeParams, replCfg.RuntimeParams} {
		for k, v := range sessionParams {
			rp[k] = v
		}
		if rp["application_name"] == "" {
			rp["application_name"] = "syncbridge"
		}
	}
	replCfg.RuntimeParams["replication"] = "database"
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, redact(fmt.Errorf("store %q: connect: %w", cfg.Name, err), secrets)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, redact(fmt.Errorf("store %q: connect: %w", cfg.Name, err), secrets)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		name:      cfg.Name,
		capture:   cfg.Capture,
		pool:      pool,
		replCfg:   replCfg,
		secrets:   secrets,
		log:       log.With("store", cfg.Name),
		types:     map[uint32]*pgType{},
		described: map[string]*table{},
	}, nil
}

// Store is an opened PostgreSQL database. Its methods are safe for
// concurrent use.
type Store struct {
	name    string
	capture connector.Capture
	pool    *pgxpool.Pool
	replCfg *pgconn.Config // for replication connections (replication=database)
	secrets []string       // DSN secrets scrubbed from errors
	log     *slog.Logger

	typesMu   sync.Mutex
	types     map[uint32]*pgType // non-builtin types seen so far
	described map[string]*table  // tables checksummed so far, by name (checksum.go)

	sqlOnce sync.Once
	sql     *sql.DB // the pool as database/sql, for sqlpoll
}

var (
	_ connector.Store          = (*Store)(nil)
	_ connector.Scanner        = (*Store)(nil)
	_ connector.CaptureChecker = (*Store)(nil)
)

// Source returns the capture side of a flow: `capture: logical` (the
// default) or `capture: poll`. It writes nothing; the slot and publication
// are created by the source's Prepare.
func (s *Store) Source(ctx context.Context, spec connector.SourceSpec) (connector.Source, error) {
	capture := spec.Capture
	if capture == "" {
		capture = s.capture
	}
	tbl, err := s.describe(ctx, spec.Table)
	if err != nil {
		return nil, err
	}
	switch capture {
	case "", connector.CaptureLogical:
		return newLogicalSource(s, spec, tbl)
	case connector.CapturePoll:
		return newPollSource(ctx, s, spec, tbl)
	case connector.CaptureTrigger:
		return newTriggerSource(s, spec, tbl)
	}
	return nil, fmt.Errorf("store %q: capture %q is not supported by the postgres driver: use logical, trigger or poll", s.name, capture)
}

// Close closes the store's connections.
func (s *Store) Close() error {
	if s.sql != nil {
		_ = s.sql.Close()
	}
	s.pool.Close()
	return nil
}

// wrapErr scrubs the DSN's secrets from an error about this store.
func (s *Store) wrapErr(err error) error {
	if err == nil {
		return nil
	}
	return redact(err, s.secrets)
}

// errorsAsPg reports whether err carries a server error, and returns it.
func errorsAsPg(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	ok := errors.As(err, &pe)
	return pe, ok
}
