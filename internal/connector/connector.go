package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
)

// StoreConfig is what a driver needs to open a store.
type StoreConfig struct {
	Name    string // the store's name in the config
	Driver  string
	DSN     string
	Capture Capture
	// ZeroDates is what reading a zero date ('0000-00-00') from a MySQL
	// store yields: "error" (the default; "" means it) or "null".
	ZeroDates string
}

// Capture is how a store's changes are read. The zero value means "not set".
type Capture string

// The capture modes.
const (
	CaptureLogical   Capture = "logical"
	CaptureBinlog    Capture = "binlog"
	CaptureTrigger   Capture = "trigger"
	CapturePoll      Capture = "poll"
	CaptureSubscribe Capture = "subscribe"
)

// Driver opens stores of one kind. Implementations are listed in
// connector/builtin.
type Driver interface {
	// Name is the value of `driver:` in the config.
	Name() string
	// Open connects to the store. It must not write anything: validate opens
	// stores too. It returns an error when the store cannot be reached.
	Open(ctx context.Context, cfg StoreConfig, log *slog.Logger) (Store, error)
}

// Store is one opened datastore. Its methods are safe for concurrent use.
type Store interface {
	// Describe returns the shape of a table, or an error wrapping
	// ErrTableNotFound.
	Describe(ctx context.Context, table string) (*Table, error)
	// Source returns the capture side of one flow. It must not write; setup
	// that writes belongs in Preparer.Prepare.
	Source(ctx context.Context, spec SourceSpec) (Source, error)
	// Sink returns the apply side of one flow. It must not write until Begin.
	Sink(ctx context.Context, spec SinkSpec) (Sink, error)
	// Close releases the store's connections.
	Close() error
}

// Column describes one column of a table.
type Column struct {
	Name      string
	Type      string      // the store's declared type, e.g. "numeric(12,2)"
	Kind      change.Kind // how values of this column are carried
	Nullable  bool
	Generated bool // computed by the store: read, never written
}

// Table describes a table: its columns in order and its primary key.
type Table struct {
	Name    string
	Columns []Column
	Key     []string // primary-key columns in key order; empty when the table has none
}

// Column returns the named column.
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// ColumnNames returns the column names in table order.
func (t *Table) ColumnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// PollSpec configures `capture: poll`.
type PollSpec struct {
	Column string // the monotonically advancing column (updated_at or a version)
	// Lag is how far behind the store's clock polling stays, so that a row
	// committed late with an older timestamp is still seen. It applies to
	// timestamp columns only; integer versions have no clock.
	Lag time.Duration
	// Every is how long a caught-up stream waits between polls.
	Every time.Duration
}

// SourceSpec is one flow's capture side.
type SourceSpec struct {
	Flow    string
	Table   string
	Key     []string // key columns, in order
	Columns []string // columns to carry; empty = all
	Capture Capture
	Poll    PollSpec
}

// SinkSpec is one flow's apply side. Changes given to the sink are already
// mapped: Table is the target table, Key and After use target column names.
type SinkSpec struct {
	Flow    string
	Table   string
	Key     []string
	Columns []string // target columns the flow writes
	// SuppressCapture marks writes so this store's capture skips them (echo
	// suppression for both-way flows). How writes are marked is the driver's
	// business: a session flag its triggers honour, a replication origin.
	SuppressCapture bool
}

// Source is the capture side of one flow. Methods may be called from one
// goroutine at a time.
type Source interface {
	// Position returns the current end of the change stream: every change
	// committed after the call returns is after it. The engine takes it
	// before a backfill so that streaming from it misses nothing.
	Position(ctx context.Context) (change.Position, error)
	// Snapshot reads up to limit rows with key greater than after (all rows
	// when after is nil) in ascending key order, as OpSnapshot changes.
	// Fewer than limit rows means the table has been read to its end.
	Snapshot(ctx context.Context, after change.Key, limit int) ([]change.Change, error)
	// Stream opens the change stream just after from.
	Stream(ctx context.Context, from change.Position) (Stream, error)
	// Compare orders two positions of this source.
	Compare(a, b change.Position) (int, error)
}

// Batch is a run of changes in source commit order.
type Batch struct {
	Changes []change.Change
	// Position is set when the batch ends on a source-transaction boundary:
	// it is the position to resume from once everything up to here is
	// applied. A nil Position means a transaction continues in the next batch.
	Position change.Position
	// CaughtUp is true when, at the time of the read, nothing newer than this
	// batch was available.
	CaughtUp bool
}

// Stream is an open change stream. Next and Ack are called from one goroutine
// at a time, but Ack may lag Next by several batches.
type Stream interface {
	// Next blocks until changes are available or ctx is done, and returns at
	// most max changes. An idle stream returns an empty Batch with Position
	// set and CaughtUp true after a short wait, so the caller can observe
	// progress.
	Next(ctx context.Context, max int) (Batch, error)
	// Ack says that everything up to and including pos is durably applied:
	// the source may release it (prune its log, confirm the slot).
	Ack(ctx context.Context, pos change.Position) error
	// Close stops the stream.
	Close() error
}

// Phase is where a flow is in its life.
type Phase int

// The phases a flow goes through.
const (
	PhaseBackfill Phase = iota + 1
	PhaseStream
)

func (p Phase) String() string {
	switch p {
	case PhaseBackfill:
		return "backfill"
	case PhaseStream:
		return "stream"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// MarshalText encodes the phase by name.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes a phase name.
func (p *Phase) UnmarshalText(b []byte) error {
	switch string(b) {
	case "backfill":
		*p = PhaseBackfill
	case "stream":
		*p = PhaseStream
	default:
		return fmt.Errorf("unknown phase %q", b)
	}
	return nil
}

// Checkpoint is how far a flow has got. Database sinks store it in the same
// transaction as the changes it covers; it is the authority on restart.
type Checkpoint struct {
	Flow  string `json:"flow"`
	Phase Phase  `json:"phase"`
	// Position is where the change stream resumes. During backfill it is the
	// position taken before the backfill began.
	Position change.Position `json:"position"`
	// BackfillKey is the last key copied during backfill.
	BackfillKey change.Key `json:"backfill_key,omitempty"`
	// BackfillRows counts rows copied so far.
	BackfillRows int64 `json:"backfill_rows,omitempty"`
}

// Sink is the apply side of one flow.
type Sink interface {
	// Checkpoint returns the last committed checkpoint, or nil when the flow
	// has never committed.
	Checkpoint(ctx context.Context) (*Checkpoint, error)
	// Begin starts a transaction. One transaction is open at a time.
	Begin(ctx context.Context) (Tx, error)
	// Close releases the sink.
	Close() error
}

// Tx is one sink transaction. Apply may be called many times, so a source
// transaction larger than memory is applied atomically in pieces.
type Tx interface {
	// Apply writes changes in order. Inserts, updates and snapshots are
	// upserts by key; deletes of a missing row succeed. When one change
	// cannot be applied, Apply returns an *ApplyError naming it; the changes
	// before it are applied, the failed one had no effect, and the
	// transaction stays usable. Any other error leaves the transaction
	// unusable: roll it back.
	Apply(ctx context.Context, changes []change.Change) error
	// Commit stores cp with the changes and commits; they are durable when
	// Commit returns nil.
	Commit(ctx context.Context, cp Checkpoint) error
	// Rollback abandons the transaction. It is safe after Commit.
	Rollback() error
}

// ApplyError reports the one change a sink could not apply.
type ApplyError struct {
	Index int   // index of the change in the slice given to Apply
	Err   error // why
	// Permanent is true when retrying cannot help (constraint violation,
	// type mismatch): the change goes to the dead-letter queue at once.
	Permanent bool
	// ForeignKey is true when the target refused the change for a foreign
	// key: a referenced row is missing, or the row is still referenced.
	// Flows ordered by `after:` then wait for the flows they are tied to
	// and retry instead of parking the change (see docs/adr/0003).
	ForeignKey bool
}

func (e *ApplyError) Error() string { return fmt.Sprintf("change %d: %v", e.Index, e.Err) }
func (e *ApplyError) Unwrap() error { return e.Err }

// Preparer is implemented by sources that must set something up before
// capture (triggers, a slot, a publication). Prepare is idempotent: it
// installs what is missing and upgrades what is outdated.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// CaptureChecker is implemented by stores that can tell, without writing,
// whether a capture mode is possible for a table (wal_level, privileges,
// binlog format). The error names the setting and the fix.
type CaptureChecker interface {
	CheckCapture(ctx context.Context, spec SourceSpec) error
}

// ScanRequest asks for rows in key order within (After, Until].
type ScanRequest struct {
	Table   string
	Key     []string
	Columns []string // empty = all
	After   change.Key
	Until   change.Key // nil = no upper bound
	Limit   int
}

// Scanner is implemented by stores that can read a table in key order.
type Scanner interface {
	Scan(ctx context.Context, req ScanRequest) ([]change.Row, error)
}

// Errors that are part of the contract.
var (
	// ErrTableNotFound is wrapped by Describe when the table does not exist.
	ErrTableNotFound = errors.New("table not found")
	// ErrPositionLost is wrapped when a stream cannot resume from a position
	// because the source no longer has it (pruned log, dropped slot). The flow
	// needs a re-backfill; the engine never skips the gap silently.
	ErrPositionLost = errors.New("position no longer available at the source")
	// ErrUnrepresentable is wrapped when a source holds a value that has no
	// representation in a change (a MySQL zero date read under
	// zero_dates: error). Retrying reads the same value again: the operator
	// must fix the row or the configuration, so the engine stops the flow.
	ErrUnrepresentable = errors.New("value cannot be represented")
)

// RowCounter is implemented by stores that can count (or estimate) a table's
// rows cheaply; backfill progress uses it.
type RowCounter interface {
	CountRows(ctx context.Context, table string) (int64, error)
}

// ResumeChecker is implemented by sources that can tell, before anything is
// set up again, whether a stream can still resume from a checkpointed
// position (the slot exists and is valid, the log still reaches back to it).
// The engine calls it for a flow that has a checkpoint, before Prepare, so a
// dropped slot is reported (wrapping ErrPositionLost) instead of being
// recreated at the current end of the log, which would skip the gap.
type ResumeChecker interface {
	CheckResume(ctx context.Context, from change.Position) error
}

// CheckpointResetter is implemented by sinks that can forget a flow's
// checkpoint, so the next run backfills the flow again (`syncbridge reset`).
type CheckpointResetter interface {
	ResetCheckpoint(ctx context.Context) error
}

// CaptureDropper is implemented by stores whose capture holds resources at
// the source (a replication slot retains WAL): DropCapture removes those of a
// flow that is gone or being reset.
type CaptureDropper interface {
	DropCapture(ctx context.Context, flow string) error
}

// Truncater is implemented by sink transactions that can remove every row
// of the target table inside the transaction (to apply a source TRUNCATE).
// A sink without it cannot apply OpTruncate: the engine parks such a change
// in the dead-letter queue rather than skip it.
type Truncater interface {
	Truncate(ctx context.Context) error
}

// LagReporter is implemented by stores that can tell how much source log a
// flow's capture holds back (a replication slot's retained WAL, binlog bytes
// behind): the syncbridge_source_lag_bytes metric.
type LagReporter interface {
	SourceLagBytes(ctx context.Context, flow string) (int64, error)
}

// CaptureLister is implemented by stores whose capture holds resources at
// the source: OrphanCaptures names those that belong to none of the given
// flows (a flow removed from the config leaves a replication slot retaining
// WAL until someone drops it).
type CaptureLister interface {
	OrphanCaptures(ctx context.Context, flows []string) ([]string, error)
}
