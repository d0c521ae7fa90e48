package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// Strategy is how a sink writes a run of upserts or deletes.
type Strategy int

// The apply strategies. The zero Strategy is invalid; a sink starts with
// StrategyAuto.
const (
	// StrategyValues sends multi-row INSERT ... VALUES ... ON CONFLICT and
	// DELETE ... WHERE (key) IN (...) statements, pipelined in one round
	// trip.
	StrategyValues Strategy = iota + 1
	// StrategyUnnest sends INSERT ... SELECT * FROM unnest($1::type[], ...)
	// ON CONFLICT and DELETE ... IN (SELECT * FROM unnest(...)): one array
	// parameter per column, so one statement shape whatever the row count.
	// Runs writing array columns fall back to StrategyValues.
	StrategyUnnest
	// StrategyCopy COPYs rows into a temp staging table, then runs
	// INSERT ... SELECT ... ON CONFLICT or DELETE ... USING from it.
	StrategyCopy
	// StrategyAuto picks by run size, from BenchmarkSinkApply on the
	// issue's 11-column table: COPY from copyThreshold rows (about 1.5x the
	// others at 20k rows), unnest below (COPY's extra round trips cost more
	// than they save: 1.6x slower at 100 rows), multi-row VALUES only where
	// unnest cannot go.
	StrategyAuto
)

// copyThreshold is the run size from which StrategyAuto uses COPY.
const copyThreshold = 4096

// CheckpointTable is the table, created in the target table's schema, where
// a sink keeps each flow's checkpoint, in the same transaction as the
// changes it covers.
const CheckpointTable = "syncbridge_checkpoint"

// Sink is the apply side of one flow on a PostgreSQL table.
type Sink struct {
	store    *Store
	spec     connector.SinkSpec
	tbl      *table
	tg       *target
	cpIdent  string // quoted checkpoint table
	strategy Strategy

	cpMu    sync.Mutex
	cpReady bool
	// copyConflicts is set once a bulk COPY met a key the table already
	// had: later chunks go through the staging table (see CopyUpsert).
	copyConflicts atomic.Bool
	// cw is the COPY buffer of the open transaction (one at a time), kept
	// so that its memory is reused rather than grown for every run.
	cw copyWriter
}

// copyBuf returns the sink's COPY buffer, emptied.
func (k *Sink) copyBuf() *copyWriter {
	k.cw.buf.Reset()
	return &k.cw
}

var _ connector.Sink = (*Sink)(nil)

// Sink returns the apply side of a flow. It reads the table's shape and
// writes nothing until Begin.
func (s *Store) Sink(ctx context.Context, spec connector.SinkSpec) (connector.Sink, error) {
	tbl, err := s.describe(ctx, spec.Table)
	if err != nil {
		return nil, err
	}
	key := spec.Key
	if len(key) == 0 {
		key = tbl.key
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("store %q: table %s has no primary key and the flow names no key", s.name, tbl.qualified())
	}
	for _, k := range key {
		if _, ok := tbl.column(k); !ok {
			return nil, fmt.Errorf("store %q: table %s has no key column %q", s.name, tbl.qualified(), k)
		}
	}
	return &Sink{
		store:    s,
		spec:     spec,
		tbl:      tbl,
		tg:       newTarget(tbl, key),
		cpIdent:  pgx.Identifier{tbl.schema, CheckpointTable}.Sanitize(),
		strategy: StrategyAuto,
	}, nil
}

// SetStrategy chooses how runs are written (benchmarks compare them).
func (k *Sink) SetStrategy(st Strategy) { k.strategy = st }

// Checkpoint returns the flow's last committed checkpoint, or nil.
func (k *Sink) Checkpoint(ctx context.Context) (*connector.Checkpoint, error) {
	var data []byte
	err := k.store.pool.QueryRow(ctx, "SELECT data FROM "+k.cpIdent+" WHERE flow = $1", k.spec.Flow).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if pe, ok := errorsAsPg(err); ok && pe.Code == "42P01" {
		return nil, nil // never committed: the table does not exist yet
	}
	if err != nil {
		return nil, k.store.wrapErr(fmt.Errorf("store %q: read checkpoint of %q: %w", k.store.name, k.spec.Flow, err))
	}
	var cp connector.Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("store %q: checkpoint of %q: %w", k.store.name, k.spec.Flow, err)
	}
	return &cp, nil
}

// ensureCheckpointTable creates the checkpoint table once per sink, outside
// any apply transaction (concurrent creators race harmlessly).
func (k *Sink) ensureCheckpointTable(ctx context.Context) error {
	k.cpMu.Lock()
	defer k.cpMu.Unlock()
	if k.cpReady {
		return nil
	}
	_, err := k.store.pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+k.cpIdent+
		" (flow text PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())")
	if pe, ok := errorsAsPg(err); ok && (pe.Code == "23505" || pe.Code == "42P07") {
		err = nil
	}
	if err != nil {
		return k.store.wrapErr(fmt.Errorf("store %q: create checkpoint table %s (create it, or grant CREATE on the schema): %w",
			k.store.name, k.cpIdent, err))
	}
	k.cpReady = true
	return nil
}

// Begin starts a transaction on a connection of its own.
func (k *Sink) Begin(ctx context.Context) (connector.Tx, error) {
	if err := k.ensureCheckpointTable(ctx); err != nil {
		return nil, err
	}
	conn, err := k.store.pool.Acquire(ctx)
	if err != nil {
		return nil, k.store.wrapErr(fmt.Errorf("store %q: begin: %w", k.store.name, err))
	}
	// A both-way flow's sink (SuppressCapture) reads the target's rows with
	// Current and decides on them: a compare-and-set. SELECT ... FOR UPDATE
	// locks the rows it finds but nothing for a key it finds absent (no gap
	// locks), so under READ COMMITTED a row inserted by another writer
	// between that read and this transaction's upsert was silently
	// overwritten (INSERT ... ON CONFLICT DO UPDATE takes the row it meets):
	// a newer write lost on one side, and the other pipeline then met its
	// change as superseded. Under REPEATABLE READ the upsert fails with a
	// serialization failure (40001) when the row it meets is not in the
	// transaction's snapshot, as does FOR UPDATE on a row changed since: the
	// transaction is retried and decides again on the rows as they are.
	var opts pgx.TxOptions
	if k.spec.SuppressCapture {
		opts.IsoLevel = pgx.RepeatableRead
	}
	pgtx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		conn.Release()
		return nil, k.store.wrapErr(fmt.Errorf("store %q: begin: %w", k.store.name, err))
	}
	tx := &sinkTx{sink: k, conn: conn, tx: pgtx}
	if k.spec.SuppressCapture {
		if err := tx.markOrigin(ctx); err != nil {
			_ = tx.Rollback()
			return nil, err
		}
	}
	return tx, nil
}

// Close releases the sink. The store's pool stays open.
func (k *Sink) Close() error { return nil }

// OriginName is the replication origin a sink with SuppressCapture marks its
// transactions with, so that logical capture of the same table can tell them
// apart (Change.Origin) and a both-way flow drops its own echo.
func OriginName(flow string) string { return ObjectName(flow) }

// markOrigin tags the transaction's writes with the flow's replication
// origin, and sets syncbridge.applying for capture triggers. The origin is
// reset when the connection goes back to the pool.
func (tx *sinkTx) markOrigin(ctx context.Context) error {
	name := OriginName(tx.sink.spec.Flow)
	_, err := tx.tx.Exec(ctx, `SELECT pg_replication_origin_create($1)
		WHERE NOT EXISTS (SELECT FROM pg_replication_origin WHERE roname = $1)`, name)
	if err == nil {
		_, err = tx.tx.Exec(ctx, `SELECT pg_replication_origin_session_setup($1)`, name)
	}
	if err == nil {
		tx.origin = true
		_, err = tx.tx.Exec(ctx, `SET LOCAL syncbridge.applying = 'on'`)
	}
	if err != nil {
		return tx.sink.store.wrapErr(fmt.Errorf("store %q: mark writes of flow %q with replication origin %q "+
			"(needs superuser or EXECUTE on pg_replication_origin_create and pg_replication_origin_session_setup): %w",
			tx.sink.store.name, tx.sink.spec.Flow, name, err))
	}
	return nil
}

// sinkTx is one apply transaction.
type sinkTx struct {
	sink   *Sink
	conn   *pgxpool.Conn
	tx     pgx.Tx
	origin bool // a replication origin is set up on the session
	staged bool // the staging table exists in this transaction
	broken bool // an error left the transaction unusable
	done   bool
}

var _ connector.Tx = (*sinkTx)(nil)

// Commit upserts the checkpoint and commits.
func (tx *sinkTx) Commit(ctx context.Context, cp connector.Checkpoint) error {
	if tx.done {
		return errors.New("commit: transaction already finished")
	}
	if tx.broken {
		return errors.New("commit: transaction is unusable after an error: roll it back")
	}
	if cp.Flow == "" {
		cp.Flow = tx.sink.spec.Flow
	}
	data, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("commit: encode checkpoint: %w", err)
	}
	st := tx.sink.store
	_, err = tx.tx.Exec(ctx, "INSERT INTO "+tx.sink.cpIdent+" (flow, data, updated_at) VALUES ($1, $2, now())"+
		" ON CONFLICT (flow) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at", cp.Flow, string(data))
	if err == nil {
		err = tx.tx.Commit(ctx)
	}
	tx.finish()
	if err != nil {
		return st.wrapErr(fmt.Errorf("store %q: commit: %w", st.name, err))
	}
	return nil
}

// Rollback abandons the transaction; it is safe after Commit.
func (tx *sinkTx) Rollback() error {
	if tx.done {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	err := tx.tx.Rollback(ctx)
	tx.finish()
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return tx.sink.store.wrapErr(fmt.Errorf("store %q: rollback: %w", tx.sink.store.name, err))
	}
	return nil
}

// finish returns the connection to the pool, resetting the session's
// replication origin first (a connection that cannot be reset is closed).
func (tx *sinkTx) finish() {
	tx.done = true
	if tx.origin {
		ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		defer cancel()
		if _, err := tx.conn.Exec(ctx, `SELECT pg_replication_origin_session_reset()`); err != nil {
			_ = tx.conn.Conn().Close(ctx)
		}
	}
	tx.conn.Release()
}

// ResetCheckpoint forgets the flow's checkpoint: the next run backfills it.
func (k *Sink) ResetCheckpoint(ctx context.Context) error {
	_, err := k.store.pool.Exec(ctx, "DELETE FROM "+k.cpIdent+" WHERE flow = $1", k.spec.Flow)
	if pe, ok := errorsAsPg(err); ok && pe.Code == "42P01" {
		return nil
	}
	if err != nil {
		return k.store.wrapErr(fmt.Errorf("store %q: reset checkpoint of %q: %w", k.store.name, k.spec.Flow, err))
	}
	return nil
}

var _ connector.Truncater = (*sinkTx)(nil)

// Truncate deletes every row of the target table inside the transaction.
// DELETE rather than TRUNCATE: it takes no ACCESS EXCLUSIVE lock, so
// readers of the target are not blocked while the transaction is open.
func (tx *sinkTx) Truncate(ctx context.Context) error {
	if tx.done || tx.broken {
		return errors.New("truncate: transaction is finished or unusable")
	}
	if _, err := tx.tx.Exec(ctx, "DELETE FROM "+tx.sink.tbl.ident()); err != nil {
		tx.broken = true
		return tx.sink.store.wrapErr(fmt.Errorf("truncate %s: %w", tx.sink.tbl.qualified(), err))
	}
	return nil
}
