package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
)

// Conflict statuses.
const (
	ConflictResolved = "resolved" // decided by the flow's policy or an operator
	ConflictParked   = "parked"   // waiting for an operator (`manual`)
)

// Conflict is one entry of the conflict log: a change from one side of a
// both-way flow met a row the other side had changed since the base. Rows
// are in the to table's model; a nil row is a deleted (or absent) one.
type Conflict struct {
	Seq       int64      `json:"seq"` // assigned when recorded
	Flow      string     `json:"flow"`
	Key       string     `json:"key"` // change.Key.String()
	KeyValues change.Key `json:"key_values"`
	// OursSide is the side ("from" or "to") whose change met the conflict;
	// Theirs is the other side's row at that moment.
	OursSide string     `json:"ours_side"`
	Base     change.Row `json:"base"`
	Ours     change.Row `json:"ours"`
	Theirs   change.Row `json:"theirs"`
	// Result is the row both sides got (nil: deleted, or still parked).
	Result     change.Row `json:"result"`
	Winner     string     `json:"winner"` // ours | theirs | merged | none (parked)
	Policy     string     `json:"policy"`
	Reason     string     `json:"reason"`
	Status     string     `json:"status"` // resolved | parked
	At         time.Time  `json:"at"`
	ResolvedAt time.Time  `json:"resolved_at,omitzero"`
}

// Intent is a both-way flow's redo record for one transaction whose writes
// span both stores and the state store. It is saved before the first of
// them commits and finished (FinishIntent) after the last, so a crash in
// between leaves it for the engine to complete on restart. Data is the
// engine's; the store keeps it opaque.
type Intent struct {
	Name      string          `json:"name"` // the pipeline that wrote it; one intent per pipeline
	Flow      string          `json:"flow"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// ErrNotParked is wrapped by ResolveConflict when seq names no parked
// conflict of the flow.
var ErrNotParked = errors.New("no parked conflict with that seq")

const conflictCols = `SELECT seq, flow, key, key_values, ours_side, base, ours, theirs, result, winner, policy,
	reason, status, at, resolved_at FROM conflicts`

// Conflicts implements Store.
func (s *sqlStore) Conflicts(ctx context.Context, flow, status string) ([]Conflict, error) {
	query, args := conflictCols+` WHERE ($1 = '' OR flow = $1) AND ($2 = '' OR status = $2) ORDER BY seq`, []any{flow, status}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list conflicts of %q: %w", flow, err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var (
			c                          Conflict
			keyJSON                    []byte
			base, ours, theirs, result []byte
			at                         int64
			resolvedAt                 sql.NullInt64
		)
		if err := rows.Scan(&c.Seq, &c.Flow, &c.Key, &keyJSON, &c.OursSide, &base, &ours, &theirs, &result,
			&c.Winner, &c.Policy, &c.Reason, &c.Status, &at, &resolvedAt); err != nil {
			return nil, fmt.Errorf("list conflicts of %q: %w", flow, err)
		}
		if err := json.Unmarshal(keyJSON, &c.KeyValues); err != nil {
			return nil, fmt.Errorf("list conflicts of %q: entry %d: %w", flow, c.Seq, err)
		}
		for _, r := range []struct {
			data []byte
			row  *change.Row
		}{{base, &c.Base}, {ours, &c.Ours}, {theirs, &c.Theirs}, {result, &c.Result}} {
			if err := decodeRow(r.data, r.row); err != nil {
				return nil, fmt.Errorf("list conflicts of %q: entry %d: %w", flow, c.Seq, err)
			}
		}
		c.At = time.UnixMicro(at).UTC()
		if resolvedAt.Valid {
			c.ResolvedAt = time.UnixMicro(resolvedAt.Int64).UTC()
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list conflicts of %q: %w", flow, err)
	}
	return out, nil
}

func insertConflicts(ctx context.Context, tx *sql.Tx, cs []Conflict) error {
	if len(cs) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO conflicts (flow, key, key_values, ours_side, base, ours, theirs,
		result, winner, policy, reason, status, at, resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	for _, c := range cs {
		if c.Flow == "" || c.Key == "" {
			return errors.New("a conflict needs a flow and a key")
		}
		if c.Status != ConflictResolved && c.Status != ConflictParked {
			return fmt.Errorf("conflict of key %q: unknown status %q", c.Key, c.Status)
		}
		keyJSON, err := encode(c.KeyValues, new(change.Key))
		if err != nil {
			return fmt.Errorf("conflict of key %q: %w", c.Key, err)
		}
		rows := make([]any, 4)
		for i, r := range []change.Row{c.Base, c.Ours, c.Theirs, c.Result} {
			if rows[i], err = encodeRow(r); err != nil {
				return fmt.Errorf("conflict of key %q: %w", c.Key, err)
			}
		}
		at := c.At
		if at.IsZero() {
			at = now
		}
		var resolvedAt any
		if c.Status == ConflictResolved {
			resolvedAt = at.UnixMicro()
		}
		if _, err := st.ExecContext(ctx, c.Flow, c.Key, keyJSON, c.OursSide, rows[0], rows[1], rows[2], rows[3],
			c.Winner, c.Policy, c.Reason, c.Status, at.UnixMicro(), resolvedAt); err != nil {
			return fmt.Errorf("conflict of key %q: %w", c.Key, err)
		}
	}
	return nil
}

// ResolveConflict implements Store.
func (s *sqlStore) ResolveConflict(ctx context.Context, flow string, seq int64, c Conflict, bases []Base) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("resolve conflict %d: %w", seq, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	result, err := encodeRow(c.Result)
	if err != nil {
		return fmt.Errorf("resolve conflict %d: %w", seq, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE conflicts SET status = $1, result = $2, winner = $3, reason = $4, resolved_at = $5
		WHERE flow = $6 AND seq = $7 AND status = $8`,
		ConflictResolved, result, c.Winner, c.Reason, time.Now().UnixMicro(), flow, seq, ConflictParked)
	if err != nil {
		return fmt.Errorf("resolve conflict %d: %w", seq, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("resolve conflict %d of flow %q: %w", seq, flow, ErrNotParked)
	}
	if err := saveBases(ctx, tx, flow, bases); err != nil {
		return fmt.Errorf("resolve conflict %d: %w", seq, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("resolve conflict %d: %w", seq, err)
	}
	return nil
}

// SaveIntent implements Store.
func (s *sqlStore) SaveIntent(ctx context.Context, in Intent) error {
	if in.Name == "" || in.Flow == "" {
		return errors.New("save intent: name and flow are required")
	}
	if !json.Valid(in.Data) {
		return fmt.Errorf("save intent %q: data is not JSON", in.Name)
	}
	if in.CreatedAt.IsZero() {
		in.CreatedAt = time.Now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO intents (name, flow, data, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET flow = excluded.flow, data = excluded.data, created_at = excluded.created_at`,
		in.Name, in.Flow, string(in.Data), in.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("save intent %q: %w", in.Name, err)
	}
	return nil
}

// Intents implements Store.
func (s *sqlStore) Intents(ctx context.Context, flow string) ([]Intent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, flow, data, created_at FROM intents WHERE flow = $1 ORDER BY name`, flow)
	if err != nil {
		return nil, fmt.Errorf("list intents of %q: %w", flow, err)
	}
	defer rows.Close()
	var out []Intent
	for rows.Next() {
		var (
			in   Intent
			data []byte
			at   int64
		)
		if err := rows.Scan(&in.Name, &in.Flow, &data, &at); err != nil {
			return nil, fmt.Errorf("list intents of %q: %w", flow, err)
		}
		in.Data, in.CreatedAt = json.RawMessage(data), time.UnixMicro(at).UTC()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list intents of %q: %w", flow, err)
	}
	return out, nil
}

// ReplaceIntent implements Store.
func (s *sqlStore) ReplaceIntent(ctx context.Context, flow string, bases []Base, conflicts []Conflict, next Intent) error {
	if next.Name == "" || next.Flow == "" || !json.Valid(next.Data) {
		return errors.New("replace intent: the next intent needs a name, a flow and JSON data")
	}
	if next.CreatedAt.IsZero() {
		next.CreatedAt = time.Now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("replace intent %q: %w", next.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := saveBases(ctx, tx, flow, bases); err != nil {
		return fmt.Errorf("replace intent %q: %w", next.Name, err)
	}
	if err := insertConflicts(ctx, tx, conflicts); err != nil {
		return fmt.Errorf("replace intent %q: %w", next.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO intents (name, flow, data, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET flow = excluded.flow, data = excluded.data, created_at = excluded.created_at`,
		next.Name, next.Flow, string(next.Data), next.CreatedAt.UnixMicro()); err != nil {
		return fmt.Errorf("replace intent %q: %w", next.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("replace intent %q: %w", next.Name, err)
	}
	return nil
}

// FinishIntent implements Store.
func (s *sqlStore) FinishIntent(ctx context.Context, flow, name string, bases []Base, conflicts []Conflict) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("finish intent %q: %w", name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := saveBases(ctx, tx, flow, bases); err != nil {
		return fmt.Errorf("finish intent %q: %w", name, err)
	}
	if err := insertConflicts(ctx, tx, conflicts); err != nil {
		return fmt.Errorf("finish intent %q: %w", name, err)
	}
	if name != "" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM intents WHERE name = $1`, name); err != nil {
			return fmt.Errorf("finish intent %q: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finish intent %q: %w", name, err)
	}
	return nil
}

// ConflictLog records the conflicts of both-way flows, and the intents that
// make a both-way transaction's effects on two stores and the state store
// complete after a crash.
type ConflictLog interface {
	// Conflicts lists the conflicts of a flow ("" = all flows) with a status
	// ("" = any), oldest first.
	Conflicts(ctx context.Context, flow, status string) ([]Conflict, error)
	// ResolveConflict marks a parked conflict resolved with c's Result,
	// Winner and Reason, and saves bases, in one transaction. It fails,
	// wrapping ErrNotParked, when seq is not a parked conflict of flow.
	ResolveConflict(ctx context.Context, flow string, seq int64, c Conflict, bases []Base) error
	// SaveIntent records (or replaces) the intent of in.Name.
	SaveIntent(ctx context.Context, in Intent) error
	// Intents lists the intents of a flow.
	Intents(ctx context.Context, flow string) ([]Intent, error)
	// FinishIntent saves bases, records conflicts and removes the intent
	// name ("" = none), in one transaction.
	FinishIntent(ctx context.Context, flow, name string, bases []Base, conflicts []Conflict) error
	// ReplaceIntent saves bases and records conflicts (the outcome of the
	// intent next replaces) and saves next, in one transaction.
	ReplaceIntent(ctx context.Context, flow string, bases []Base, conflicts []Conflict, next Intent) error
}
