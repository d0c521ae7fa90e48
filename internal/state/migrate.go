package state

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
)

// migrations holds the schema of both stores: SQLite's in migrations/, and
// PostgreSQL's in migrations/postgres/ (goose reads only the top level of the
// directory it is given, so the two never mix).
//
//go:embed migrations/*.sql migrations/postgres/*.sql
var migrations embed.FS

// migrateAttempts bounds how often migrate retries after losing a race with
// another process migrating the same database.
const migrateAttempts = 5

// migrate applies the pending migrations of dir to db.
//
// Two processes opening the same state at once can both see a migration as
// pending. Each migration runs in a transaction that also records its
// version, and a second run of it fails (a table already exists, or the
// unique version index rejects the record), so the loser's transaction rolls
// back having changed nothing. The loser then asks again what is pending: if
// nothing is, the winner has done the work and the error is moot. PostgreSQL
// additionally serialises migrations with a session locker passed in opts.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, opts ...goose.ProviderOption) error {
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return err
	}
	// p.Close is not called: it would close db, which the store keeps.
	for attempt := 1; ; attempt++ {
		_, err := p.Up(ctx)
		if err == nil {
			return nil
		}
		if pending, perr := p.HasPending(ctx); perr == nil && !pending {
			return nil
		}
		if attempt == migrateAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}
