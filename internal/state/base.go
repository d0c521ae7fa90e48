package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
)

// Base is the last version of one row that both sides of a both-way flow
// agreed on, in the model of each side. Conflict detection compares against
// it: a side whose row differs from its base has changed since.
type Base struct {
	Key  string     `json:"key"`  // change.Key.String() of the flow's key
	From change.Row `json:"from"` // in the from table's model; nil when deleted
	To   change.Row `json:"to"`   // in the to table's model; nil when deleted
	// Deleted marks a tombstone: both sides agreed the row is gone.
	Deleted   bool      `json:"deleted,omitempty"`
	DeletedAt time.Time `json:"deleted_at,omitzero"`
	// UpdatedAt is when the sides agreed; a zero value means now.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Bases implements Store.
func (s *sqlStore) Bases(ctx context.Context, flow string, keys []string) (map[string]Base, error) {
	out := make(map[string]Base, len(keys))
	const chunk = 500
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(len(keys), start+chunk)]
		args := make([]any, 0, len(part)+1)
		args = append(args, flow)
		for _, k := range part {
			args = append(args, k)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT key, from_row, to_row, deleted, deleted_at, updated_at
			FROM bases WHERE flow = $1 AND key IN (`+placeholders(2, len(part))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read bases of %q: %w", flow, err)
		}
		if err := scanBases(rows, out); err != nil {
			return nil, fmt.Errorf("read bases of %q: %w", flow, err)
		}
	}
	return out, nil
}

func scanBases(rows *sql.Rows, out map[string]Base) error {
	defer rows.Close()
	for rows.Next() {
		var (
			b          Base
			from, to   []byte
			deletedAt  sql.NullInt64
			updatedAtU int64
		)
		if err := rows.Scan(&b.Key, &from, &to, &b.Deleted, &deletedAt, &updatedAtU); err != nil {
			return err
		}
		if err := decodeRow(from, &b.From); err != nil {
			return fmt.Errorf("base %q: %w", b.Key, err)
		}
		if err := decodeRow(to, &b.To); err != nil {
			return fmt.Errorf("base %q: %w", b.Key, err)
		}
		if deletedAt.Valid {
			b.DeletedAt = time.UnixMicro(deletedAt.Int64).UTC()
		}
		b.UpdatedAt = time.UnixMicro(updatedAtU).UTC()
		out[b.Key] = b
	}
	return rows.Err()
}

// SaveBases implements Store.
func (s *sqlStore) SaveBases(ctx context.Context, flow string, bases []Base) error {
	if len(bases) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save bases of %q: %w", flow, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := saveBases(ctx, tx, flow, bases); err != nil {
		return fmt.Errorf("save bases of %q: %w", flow, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save bases of %q: %w", flow, err)
	}
	return nil
}

func saveBases(ctx context.Context, tx *sql.Tx, flow string, bases []Base) error {
	if len(bases) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO bases (flow, key, from_row, to_row, deleted, deleted_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (flow, key) DO UPDATE SET from_row = excluded.from_row, to_row = excluded.to_row,
			deleted = excluded.deleted, deleted_at = excluded.deleted_at, updated_at = excluded.updated_at
		WHERE excluded.updated_at >= bases.updated_at`)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	for _, b := range bases {
		if b.Key == "" {
			return errors.New("a base has no key")
		}
		from, err := encodeRow(b.From)
		if err != nil {
			return fmt.Errorf("base %q: %w", b.Key, err)
		}
		to, err := encodeRow(b.To)
		if err != nil {
			return fmt.Errorf("base %q: %w", b.Key, err)
		}
		at := b.UpdatedAt
		if at.IsZero() {
			at = now
		}
		var deletedAt any
		if b.Deleted {
			d := b.DeletedAt
			if d.IsZero() {
				d = at
			}
			deletedAt = d.UnixMicro()
		}
		if _, err := st.ExecContext(ctx, flow, b.Key, from, to, b.Deleted, deletedAt, at.UnixMicro()); err != nil {
			return fmt.Errorf("base %q: %w", b.Key, err)
		}
	}
	return nil
}

// PruneTombstones implements Store.
func (s *sqlStore) PruneTombstones(ctx context.Context, flow string, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM bases WHERE flow = $1 AND deleted = $2 AND deleted_at < $3`,
		flow, true, before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("prune tombstones of %q: %w", flow, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// encodeRow is the JSON of r, or NULL for a nil row.
func encodeRow(r change.Row) (any, error) {
	if r == nil {
		return nil, nil
	}
	data, err := encode(r, new(change.Row))
	if err != nil {
		return nil, err
	}
	return data, nil
}

func decodeRow(data []byte, r *change.Row) error {
	if data == nil {
		*r = nil
		return nil
	}
	return json.Unmarshal(data, r)
}

// placeholders returns "$from, $from+1, ..." for n parameters.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

// BaseStore keeps the bases of both-way flows. Keys are change.Key.String()
// of the flow's key, the same text on both sides.
type BaseStore interface {
	// Bases returns the stored bases of keys; keys without one are absent.
	Bases(ctx context.Context, flow string, keys []string) (map[string]Base, error)
	// SaveBases upserts bases in one transaction. A base older (by
	// UpdatedAt) than the one stored for its key is ignored, so bases
	// recorded out of order keep the newest agreement. FinishIntent,
	// ReplaceIntent and ResolveConflict save bases by the same rule.
	SaveBases(ctx context.Context, flow string, bases []Base) error
	// PruneTombstones removes tombstones deleted before the given time and
	// returns how many went.
	PruneTombstones(ctx context.Context, flow string, before time.Time) (int64, error)
}
