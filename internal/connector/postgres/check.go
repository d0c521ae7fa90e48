package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// CheckCapture tells, without writing, whether the flow's capture mode works
// on this store. For `capture: logical` it checks wal_level, the role's
// REPLICATION attribute, free replication slots and WAL senders, the
// table's replica identity, and the privileges Prepare needs; every problem
// found is reported with the statement that fixes it.
func (s *Store) CheckCapture(ctx context.Context, spec connector.SourceSpec) error {
	capture := spec.Capture
	if capture == "" {
		capture = s.capture
	}
	switch capture {
	case "", connector.CaptureLogical:
		return s.checkLogical(ctx, spec)
	case connector.CapturePoll:
		tbl, err := s.describe(ctx, spec.Table)
		if err != nil {
			return err
		}
		_, err = newPollSource(ctx, s, spec, tbl)
		return err
	case connector.CaptureTrigger:
		tbl, err := s.describe(ctx, spec.Table)
		if err != nil {
			return err
		}
		_, err = newTriggerSource(s, spec, tbl)
		return err
	}
	return fmt.Errorf("store %q: capture %q is not supported by the postgres driver: use logical, trigger or poll", s.name, capture)
}

// serverState is what checkLogical reads in one query.
type serverState struct {
	walLevel              string
	maxSlots, usedSlots   int
	maxSenders, usedSends int
	replication           bool
	superuser             bool
	user, database        string
	canCreate             bool
}

func (s *Store) checkLogical(ctx context.Context, spec connector.SourceSpec) error {
	var st serverState
	err := s.pool.QueryRow(ctx, `
		SELECT current_setting('wal_level'),
		       current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_replication_slots)::int,
		       current_setting('max_wal_senders')::int, (SELECT count(*) FROM pg_stat_replication)::int,
		       r.rolreplication, r.rolsuper, current_user, current_database(),
		       has_database_privilege(current_database(), 'CREATE')
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(
		&st.walLevel, &st.maxSlots, &st.usedSlots, &st.maxSenders, &st.usedSends,
		&st.replication, &st.superuser, &st.user, &st.database, &st.canCreate)
	if err != nil {
		return s.wrapErr(fmt.Errorf("store %q: read server settings: %w", s.name, err))
	}
	name := ObjectName(spec.Flow)
	sl, err := s.slotInfo(ctx, name)
	if err != nil {
		return s.wrapErr(fmt.Errorf("store %q: read slot %q: %w", s.name, name, err))
	}
	var problems []error
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("store %q: "+format, append([]any{s.name}, args...)...))
	}
	user := pgx.Identifier{st.user}.Sanitize()
	if st.walLevel != "logical" {
		add("wal_level is %q but capture: logical needs \"logical\": run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL", st.walLevel)
	}
	if !st.replication && !st.superuser {
		add("role %s lacks the REPLICATION attribute that capture: logical needs: run ALTER ROLE %s WITH REPLICATION; (on Amazon RDS: GRANT rds_replication TO %s;)", user, user, user)
	}
	switch {
	case st.maxSlots == 0:
		add("max_replication_slots is 0: run ALTER SYSTEM SET max_replication_slots = 10; then restart PostgreSQL")
	case sl == nil && st.usedSlots >= st.maxSlots:
		add("all %d replication slots are in use: drop unused ones (SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active) or raise the limit: ALTER SYSTEM SET max_replication_slots = %d; then restart PostgreSQL", st.maxSlots, st.maxSlots+10)
	}
	switch {
	case st.maxSenders == 0:
		add("max_wal_senders is 0: run ALTER SYSTEM SET max_wal_senders = 10; then restart PostgreSQL")
	case st.usedSends >= st.maxSenders:
		add("all %d WAL senders are in use: raise the limit: ALTER SYSTEM SET max_wal_senders = %d; then restart PostgreSQL", st.maxSenders, st.maxSenders+10)
	}
	if sl != nil && sl.database != st.database {
		add("replication slot %q belongs to database %q: rename the flow or drop that slot", name, sl.database)
	}
	if err := s.checkTable(ctx, spec, st, name, add); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

// checkTable checks the table's replica identity and the privileges on it.
func (s *Store) checkTable(ctx context.Context, spec connector.SourceSpec, st serverState, pub string, add func(string, ...any)) error {
	tbl, err := s.describe(ctx, spec.Table)
	if err != nil {
		return err
	}
	ident := tbl.ident()
	key := spec.Key
	if len(key) == 0 {
		key = tbl.key
	}
	switch {
	case tbl.replIdent == "n":
		add("table %s has REPLICA IDENTITY NOTHING, so updates and deletes cannot be captured: run ALTER TABLE %s REPLICA IDENTITY DEFAULT; (with a primary key) or ALTER TABLE %s REPLICA IDENTITY FULL;", tbl.qualified(), ident, ident)
	case tbl.replIdent == "d" && len(tbl.key) == 0:
		add("table %s has no primary key, so updates and deletes cannot be captured: add a primary key, or run ALTER TABLE %s REPLICA IDENTITY FULL;", tbl.qualified(), ident)
	case tbl.replIdent == "d" && !equalStrings(key, tbl.key):
		add("the flow's key %v is not the primary key %v of %s, so deletes would not carry it: run ALTER TABLE %s REPLICA IDENTITY FULL;", key, tbl.key, tbl.qualified(), ident)
	}
	var canSelect, owns, covered bool
	err = s.pool.QueryRow(ctx, `
		SELECT has_table_privilege($1::oid, 'SELECT'),
		       pg_has_role((SELECT relowner FROM pg_class WHERE oid = $1::oid), 'USAGE'),
		       EXISTS (SELECT FROM pg_publication_tables WHERE pubname = $2 AND schemaname = $3 AND tablename = $4)`,
		tbl.oid, pub, tbl.schema, tbl.name).Scan(&canSelect, &owns, &covered)
	if err != nil {
		return s.wrapErr(fmt.Errorf("store %q: read privileges on %s: %w", s.name, tbl.qualified(), err))
	}
	user := pgx.Identifier{st.user}.Sanitize()
	if !canSelect {
		add("role %s cannot read %s (needed for the backfill): run GRANT SELECT ON %s TO %s;", user, tbl.qualified(), ident, user)
	}
	if !covered && !st.superuser {
		if !owns {
			add("role %s does not own %s, so it cannot create publication %q for it: have the owner run CREATE PUBLICATION %s FOR TABLE %s;", user, tbl.qualified(), pub, pgx.Identifier{pub}.Sanitize(), ident)
		}
		if !st.canCreate {
			add("role %s cannot create publication %q: run GRANT CREATE ON DATABASE %s TO %s;", user, pub, pgx.Identifier{st.database}.Sanitize(), user)
		}
	}
	return nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
