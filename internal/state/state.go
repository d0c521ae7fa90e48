package state

import (
	"context"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Store is the state store. Its methods are safe for concurrent use, also
// from several processes sharing one state file.
type Store interface {
	// SaveCheckpoint records the latest checkpoint of a flow (a copy for
	// status; the sink holds the authoritative one).
	SaveCheckpoint(ctx context.Context, cp connector.Checkpoint) error
	// Checkpoint returns the recorded checkpoint, or nil.
	Checkpoint(ctx context.Context, flow string) (*connector.Checkpoint, error)

	// Park puts a change in the dead-letter queue. Parking the same change ID
	// twice keeps one entry (crash and redelivery are expected): a re-park
	// updates Error, Waiting and Attempts but keeps the entry's Seq, so its
	// place in the queue does not move. A zero ParkedAt means now.
	Park(ctx context.Context, e DLQEntry) error
	// DLQ lists parked changes of a flow ("" = all flows) in parking order.
	DLQ(ctx context.Context, flow string) ([]DLQEntry, error)
	// ParkedKeys returns the keys (Key.String of the source key) of a flow
	// that have parked changes: later changes to them must wait behind.
	// Unlike DLQ, "" is a flow name here, not "all flows": keys are only
	// meaningful within one flow.
	ParkedKeys(ctx context.Context, flow string) (map[string]bool, error)
	// Unpark removes entries by sequence number. Unknown numbers are ignored,
	// so a replay that crashed after unparking can run again.
	Unpark(ctx context.Context, seqs ...int64) error

	// SetStatus records a flow's run-time status, replacing the previous
	// one. A zero UpdatedAt means now. Extra travels as JSON, so its numbers
	// come back as float64.
	SetStatus(ctx context.Context, s FlowStatus) error
	// Statuses lists the recorded status of every flow, sorted by flow.
	Statuses(ctx context.Context) ([]FlowStatus, error)

	// AcquireLease takes or renews the lease on name for holder until now+ttl,
	// now being the state database's clock, so instances on machines with
	// skewed clocks still agree. It returns a *LeaseHeldError, which wraps
	// ErrLeaseHeld and names the holder and its expiry, when another live
	// holder has it. Exactly one of several concurrent callers wins.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) error
	// ReleaseLease gives the lease up if holder has it; otherwise it does
	// nothing, so a holder that lost its lease cannot free someone else's.
	ReleaseLease(ctx context.Context, name, holder string) error

	// SaveReport records one reconciliation of a flow. A zero StartedAt
	// means now; ID is assigned.
	SaveReport(ctx context.Context, r Report) error
	// Reports lists the latest reconciliations of a flow ("" = all flows),
	// newest first, at most limit (at least 1).
	Reports(ctx context.Context, flow string, limit int) ([]Report, error)

	// Both-way flows: the base of each row, the conflict log, intents.
	BaseStore
	ConflictLog

	// Close releases the store's connections. Leases are not released: they
	// expire, so a crashed holder and a closed one behave alike.
	Close() error
}

// DLQEntry is one parked change.
type DLQEntry struct {
	Seq      int64         `json:"seq"` // assigned by Park; parking order
	Flow     string        `json:"flow"`
	ChangeID string        `json:"change_id"`
	Key      string        `json:"key"` // Key.String() of the source key
	Change   change.Change `json:"change"`
	Error    string        `json:"error"`
	// Waiting is true when the change did not fail itself but was parked
	// behind an earlier parked change to the same key.
	Waiting  bool      `json:"waiting"`
	Attempts int       `json:"attempts"`
	ParkedAt time.Time `json:"parked_at"`
}

// FlowStatus is what `status` shows for a flow.
type FlowStatus struct {
	Flow         string         `json:"flow"`
	Phase        string         `json:"phase"` // backfill | stream | stopped | error
	Position     string         `json:"position,omitempty"`
	BackfillRows int64          `json:"backfill_rows"`
	Applied      int64          `json:"applied"` // changes applied since the flow was created
	LastApplied  time.Time      `json:"last_applied,omitempty"`
	LagSeconds   float64        `json:"lag_seconds"`
	LastError    string         `json:"last_error,omitempty"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Holder       string         `json:"holder,omitempty"`
	Extra        map[string]any `json:"extra,omitempty"`
}
