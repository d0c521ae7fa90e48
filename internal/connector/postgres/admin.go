package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/connector"
)

var _ connector.RowCounter = (*Store)(nil)

// SlotLag returns how many bytes of WAL the flow's slot holds back: the
// distance from its confirmed position to the current end of WAL. The slot
// keeps that WAL on the server's disk until the flow catches up.
func (s *Store) SlotLag(ctx context.Context, flow string) (int64, error) {
	var lag *int64
	err := s.pool.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint
		FROM pg_replication_slots WHERE slot_name = $1`, ObjectName(flow)).Scan(&lag)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("store %q: slot %q of flow %q does not exist", s.name, ObjectName(flow), flow)
	}
	if err != nil {
		return 0, s.wrapErr(fmt.Errorf("store %q: read slot lag: %w", s.name, err))
	}
	if lag == nil {
		return 0, nil
	}
	return *lag, nil
}

// DropCapture removes the replication slot and the publication of a flow
// that no longer exists. Until it runs, an abandoned slot keeps every WAL
// segment written since the flow stopped, and the server's disk fills up.
// A slot in use by a running stream is not dropped (the error says so).
func (s *Store) DropCapture(ctx context.Context, flow string) error {
	name := ObjectName(flow)
	_, err := s.pool.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE slot_name = $1 AND database = current_database()`, name)
	if err == nil {
		_, err = s.pool.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{name}.Sanitize())
	}
	if err != nil {
		return s.wrapErr(fmt.Errorf("store %q: drop slot and publication %q of flow %q: %w", s.name, name, flow, err))
	}
	return nil
}

// CountRows estimates the table's rows from the planner's statistics, and
// counts them when the table was never analyzed.
func (s *Store) CountRows(ctx context.Context, table string) (int64, error) {
	t, err := s.describe(ctx, table)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.pool.QueryRow(ctx, `SELECT reltuples::bigint FROM pg_class WHERE oid = $1`, t.oid).Scan(&n)
	if err == nil && n < 0 {
		err = s.pool.QueryRow(ctx, "SELECT count(*) FROM "+t.ident()).Scan(&n)
	}
	if err != nil {
		return 0, s.wrapErr(fmt.Errorf("store %q: count rows of %q: %w", s.name, table, err))
	}
	return n, nil
}

var _ connector.LagReporter = (*Store)(nil)

// SourceLagBytes is SlotLag for the engine's source-lag metric.
func (s *Store) SourceLagBytes(ctx context.Context, flow string) (int64, error) {
	return s.SlotLag(ctx, flow)
}

var _ connector.CaptureLister = (*Store)(nil)

// OrphanCaptures lists syncbridge's replication slots in this database that
// belong to none of flows.
func (s *Store) OrphanCaptures(ctx context.Context, flows []string) ([]string, error) {
	owned := map[string]bool{}
	for _, f := range flows {
		owned[ObjectName(f)] = true
	}
	rows, err := s.pool.Query(ctx, `SELECT slot_name FROM pg_replication_slots
		WHERE slot_name LIKE 'syncbridge\_%' AND database = current_database() ORDER BY slot_name`)
	if err != nil {
		return nil, s.wrapErr(fmt.Errorf("store %q: list replication slots: %w", s.name, err))
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.wrapErr(fmt.Errorf("store %q: list replication slots: %w", s.name, err))
	}
	var out []string
	for _, n := range names {
		if !owned[n] {
			out = append(out, n)
		}
	}
	return out, nil
}
