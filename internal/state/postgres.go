package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// DefaultPostgresSchema is the schema OpenPostgres keeps its tables in, so
// they never mix with the tables of the database they share.
const DefaultPostgresSchema = "syncbridge_state"

// PostgresStore is the state store in a PostgreSQL schema, for teams that run
// several instances against one state.
type PostgresStore struct {
	sqlStore
	schema string
}

var _ Store = (*PostgresStore)(nil)

// postgresNow is the current time in unix microseconds. clock_timestamp, not
// now(): now() is frozen at the start of the transaction.
const postgresNow = `(extract(epoch FROM clock_timestamp()) * 1000000)::bigint`

// OpenPostgres connects to the database at dsn, creates schema
// syncbridge_state when missing and brings it up to date.
func OpenPostgres(ctx context.Context, dsn string) (*PostgresStore, error) {
	return openPostgres(ctx, dsn, DefaultPostgresSchema)
}

// openPostgres is OpenPostgres in any schema; tests use a schema of their own.
func openPostgres(ctx context.Context, dsn, schema string) (*PostgresStore, error) {
	cfg, err := pgx.ParseConfig(dsn) // its errors redact the password
	if err != nil {
		return nil, fmt.Errorf("open postgres state: %w", err)
	}
	// Every connection resolves the unqualified table names of the shared SQL
	// and the migrations (goose's version table included) in the schema.
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "syncbridge-state"
	}
	where := fmt.Sprintf("%s/%s schema %q", cfg.Host, cfg.Database, schema)
	db := stdlib.OpenDB(*cfg)
	if err := createSchema(ctx, db, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres state %s: %w", where, err)
	}
	locker := migrationLock{id: migrationLockID(schema)}
	if err := migrate(ctx, db, goose.DialectPostgres, "migrations/postgres", goose.WithSessionLocker(locker)); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate postgres state %s: %w", where, err)
	}
	return &PostgresStore{sqlStore: sqlStore{db: db, nowMicros: postgresNow}, schema: schema}, nil
}

// Schema returns the schema the store's tables live in.
func (s *PostgresStore) Schema() string { return s.schema }

// createSchema creates schema unless it exists. Existence is checked first
// because CREATE SCHEMA needs the CREATE privilege on the database even with
// IF NOT EXISTS, and a DBA may have created the schema for a user without it.
// Two instances starting together can both try to create it; the loser's
// duplicate error means the schema is there, which is all that is wanted.
func createSchema(ctx context.Context, db *sql.DB, schema string) error {
	var exists bool
	err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists)
	if err != nil || exists {
		return err
	}
	_, err = db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P06" || pgErr.Code == "23505") {
		return nil // duplicate_schema, or unique_violation on pg_namespace
	}
	return err
}

// migrationLock serialises migrations of one schema across instances with a
// session advisory lock. It blocks in the server rather than polling like
// goose's own locker (whose shortest period is a second), so instances that
// start together wait only as long as the migration takes; ctx bounds the
// wait.
type migrationLock struct{ id int64 }

var _ lock.SessionLocker = migrationLock{}

func (l migrationLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, l.id)
	return err
}

func (l migrationLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, l.id)
	return err
}

// migrationLockID is the advisory lock that serialises migrations of one
// schema: derived from the schema name so that it neither collides with an
// application's own goose lock nor blocks other syncbridge schemas.
func migrationLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("syncbridge/state:" + schema))
	return int64(h.Sum64())
}
