package state

import "context"

// OpenPostgresSchema exposes openPostgres to the external tests, which run
// each case in a throw-away schema.
func OpenPostgresSchema(ctx context.Context, dsn, schema string) (*PostgresStore, error) {
	return openPostgres(ctx, dsn, schema)
}
