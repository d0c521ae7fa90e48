package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// LogicalSource is `capture: logical`: changes come from a pgoutput
// replication slot and a publication that the source creates and owns (see
// ObjectName). Its methods may be called from one goroutine at a time.
type LogicalSource struct {
	store       *Store
	spec        connector.SourceSpec
	tbl         *table
	key         []string // key columns, in order
	cols        []string // columns carried; nil = all
	slot        string   // replication slot name
	publication string
	snap        keysetQuery
}

var (
	_ connector.Source   = (*LogicalSource)(nil)
	_ connector.Preparer = (*LogicalSource)(nil)
)

func newLogicalSource(s *Store, spec connector.SourceSpec, tbl *table) (*LogicalSource, error) {
	src := &LogicalSource{
		store: s, spec: spec, tbl: tbl, cols: spec.Columns,
		key:         spec.Key,
		slot:        ObjectName(spec.Flow),
		publication: ObjectName(spec.Flow),
	}
	if len(src.key) == 0 {
		src.key = tbl.key
	}
	if len(src.key) == 0 {
		return nil, fmt.Errorf("store %q: table %s has no primary key and the flow names no key: add a primary key or set `key:` on the flow",
			s.name, tbl.qualified())
	}
	for _, k := range src.key {
		if _, ok := tbl.column(k); !ok {
			return nil, fmt.Errorf("store %q: table %s has no key column %q", s.name, tbl.qualified(), k)
		}
	}
	src.snap = keysetQuery{table: tbl.ident(), key: src.key, cols: src.columnList()}
	return src, nil
}

// columnList returns the columns a snapshot reads: the flow's columns plus
// the key, or every column.
func (src *LogicalSource) columnList() []string {
	if len(src.cols) == 0 {
		return nil
	}
	out := append([]string(nil), src.key...)
	for _, c := range src.cols {
		if !contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// ObjectName is the name of the replication slot and of the publication
// syncbridge owns for a flow: "syncbridge_" + the flow name lower-cased with
// every character outside [a-z0-9_] replaced by '_'. When that changes the
// name or it would pass 63 bytes, 8 hex digits of the flow name's SHA-256
// are appended (after truncation), so two flows never share a slot.
func ObjectName(flow string) string {
	var b strings.Builder
	b.WriteString("syncbridge_")
	for _, r := range strings.ToLower(flow) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name == "syncbridge_"+flow && len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(flow))
	suffix := "_" + hex.EncodeToString(sum[:4])
	if len(name) > 63-len(suffix) {
		name = name[:63-len(suffix)]
	}
	return name + suffix
}

// Slot returns the name of the flow's replication slot.
func (src *LogicalSource) Slot() string { return src.slot }

// Prepare creates the flow's publication (for its table only) and then its
// pgoutput slot, when missing; an existing publication is re-pointed at the
// table. The publication comes first so that the slot never decodes a change
// before the publication exists. Creating the slot waits for transactions
// running at that moment to end.
func (src *LogicalSource) Prepare(ctx context.Context) error {
	if err := src.preparePublication(ctx); err != nil {
		return src.store.wrapErr(fmt.Errorf("store %q: publication %q: %w", src.store.name, src.publication, err))
	}
	if err := src.prepareSlot(ctx); err != nil {
		return src.store.wrapErr(fmt.Errorf("store %q: slot %q: %w", src.store.name, src.slot, err))
	}
	return nil
}

func (src *LogicalSource) preparePublication(ctx context.Context) error {
	pool := src.store.pool
	var tables []string
	rows, err := pool.Query(ctx, `SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1`, src.publication)
	if err != nil {
		return err
	}
	if tables, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return err
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_publication WHERE pubname = $1)`, src.publication).Scan(&exists); err != nil {
		return err
	}
	pub := pgx.Identifier{src.publication}.Sanitize()
	switch {
	case !exists:
		_, err = pool.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR TABLE "+src.tbl.ident()+
			" WITH (publish_via_partition_root = true)")
		if pe, ok := errorsAsPg(err); ok && pe.Code == "42710" {
			return nil // created concurrently
		}
		return err
	case len(tables) == 1 && tables[0] == src.tbl.qualified():
		return nil
	}
	_, err = pool.Exec(ctx, "ALTER PUBLICATION "+pub+" SET TABLE "+src.tbl.ident())
	return err
}

func (src *LogicalSource) prepareSlot(ctx context.Context) error {
	info, err := src.store.slotInfo(ctx, src.slot)
	if err != nil {
		return err
	}
	if info != nil {
		var db string
		if err := src.store.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
			return err
		}
		if info.database != db {
			return fmt.Errorf("the name is taken by a slot of database %q: rename the flow or drop that slot", info.database)
		}
		if info.plugin != "pgoutput" {
			return fmt.Errorf("exists with plugin %q, not pgoutput: drop it with SELECT pg_drop_replication_slot('%s')", info.plugin, src.slot)
		}
		return nil
	}
	_, err = src.store.pool.Exec(ctx, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, src.slot)
	if pe, ok := errorsAsPg(err); ok && pe.Code == "42710" {
		return nil // created concurrently
	}
	return err
}

// slot is a row of pg_replication_slots.
type slot struct {
	plugin         string
	database       string
	confirmedFlush pglogrepl.LSN
	walStatus      string // reserved, extended, unreserved or lost
	activePID      int32  // 0 when no session uses it
}

// slotInfo returns the named slot of the current database, or nil.
func (s *Store) slotInfo(ctx context.Context, name string) (*slot, error) {
	var (
		sl      slot
		flush   *string
		walStat *string
		pid     *int32
		db      *string
		plugin  *string
	)
	err := s.pool.QueryRow(ctx, `
		SELECT plugin, database, confirmed_flush_lsn::text, wal_status, active_pid
		FROM pg_replication_slots WHERE slot_name = $1`, name).Scan(&plugin, &db, &flush, &walStat, &pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sl.plugin, sl.database = deref(plugin), deref(db)
	sl.walStatus = deref(walStat)
	if pid != nil {
		sl.activePID = *pid
	}
	if flush != nil {
		if sl.confirmedFlush, err = pglogrepl.ParseLSN(*flush); err != nil {
			return nil, err
		}
	}
	return &sl, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Position returns the current end of the WAL. The slot must exist (Prepare
// runs first), so every change committed after the returned position is
// still in the slot.
//
// A transaction whose commit record precedes the position can still be
// invisible to queries for a moment (between writing its commit record and
// leaving the process array, which includes the WAL flush and synchronous
// replication waits). Position waits, up to a second, until the
// transactions in progress when it read the LSN have ended, so that a
// snapshot read after it sees every transaction the stream will skip.
// Transactions still running after that are long-running ones whose commit
// records will come after the position.
func (src *LogicalSource) Position(ctx context.Context) (change.Position, error) {
	info, err := src.store.slotInfo(ctx, src.slot)
	if err != nil {
		return nil, src.store.wrapErr(fmt.Errorf("store %q: read slot %q: %w", src.store.name, src.slot, err))
	}
	if info == nil {
		return nil, fmt.Errorf("store %q: slot %q does not exist: the source must be prepared before its position is taken", src.store.name, src.slot)
	}
	var lsnText, snap string
	err = src.store.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text, pg_current_snapshot()::text`).Scan(&lsnText, &snap)
	if err != nil {
		return nil, src.store.wrapErr(fmt.Errorf("store %q: read wal position: %w", src.store.name, err))
	}
	lsn, err := pglogrepl.ParseLSN(lsnText)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Second)
	for {
		var running int
		err := src.store.pool.QueryRow(ctx, `
			SELECT count(*) FROM pg_snapshot_xip($1::pg_snapshot) x
			WHERE x IN (SELECT pg_snapshot_xip(pg_current_snapshot()))`, snap).Scan(&running)
		if err != nil {
			return nil, src.store.wrapErr(fmt.Errorf("store %q: read running transactions: %w", src.store.name, err))
		}
		if running == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return Position{LSN: lsn}.Bytes(), nil
}

// Compare orders two positions of this source.
func (src *LogicalSource) Compare(a, b change.Position) (int, error) { return comparePositions(a, b) }

// Snapshot reads up to limit rows after the key after, in key order.
func (src *LogicalSource) Snapshot(ctx context.Context, after change.Key, limit int) ([]change.Change, error) {
	return snapshot(ctx, src.store, src.spec.Flow, src.spec.Table, src.snap, after, limit)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
