package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
)

// Park implements Store. Flow, ChangeID and Key default to the envelope's
// own Flow, ID and Key.String(), so a caller cannot park an entry that
// ParkedKeys would miss.
func (s *sqlStore) Park(ctx context.Context, e DLQEntry) error {
	if e.Flow == "" {
		e.Flow = e.Change.Flow
	}
	if e.ChangeID == "" {
		e.ChangeID = e.Change.ID
	}
	if e.Key == "" && len(e.Change.Key) > 0 {
		e.Key = e.Change.Key.String()
	}
	if e.Flow == "" || e.ChangeID == "" {
		return fmt.Errorf("park %q: flow and change id are required", e.ChangeID)
	}
	if e.ParkedAt.IsZero() {
		e.ParkedAt = time.Now()
	}
	data, err := encode(e.Change, new(change.Change))
	if err != nil {
		return fmt.Errorf("park %q: %w", e.ChangeID, err)
	}
	// A re-park keeps seq and parked_at: the entry's place in the queue is
	// where the change first failed, which is what per-key order needs.
	_, err = s.db.ExecContext(ctx, `INSERT INTO dlq
		(flow, change_id, key, change, error, waiting, attempts, parked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (flow, change_id) DO UPDATE SET
			error = excluded.error, waiting = excluded.waiting, attempts = excluded.attempts`,
		e.Flow, e.ChangeID, e.Key, data, e.Error, e.Waiting, e.Attempts, e.ParkedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("park %q: %w", e.ChangeID, err)
	}
	return nil
}

// DLQ implements Store.
func (s *sqlStore) DLQ(ctx context.Context, flow string) ([]DLQEntry, error) {
	const cols = `SELECT seq, flow, change_id, key, change, error, waiting, attempts, parked_at FROM dlq`
	query, args := cols+` ORDER BY seq`, []any(nil)
	if flow != "" {
		query, args = cols+` WHERE flow = $1 ORDER BY seq`, []any{flow}
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list dlq %q: %w", flow, err)
	}
	defer rows.Close()
	var out []DLQEntry
	for rows.Next() {
		var (
			e        DLQEntry
			data     []byte
			parkedAt int64
		)
		if err := rows.Scan(&e.Seq, &e.Flow, &e.ChangeID, &e.Key, &data, &e.Error,
			&e.Waiting, &e.Attempts, &parkedAt); err != nil {
			return nil, fmt.Errorf("list dlq %q: %w", flow, err)
		}
		if err := json.Unmarshal(data, &e.Change); err != nil {
			return nil, fmt.Errorf("list dlq %q: entry %d: %w", flow, e.Seq, err)
		}
		e.ParkedAt = time.UnixMicro(parkedAt).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list dlq %q: %w", flow, err)
	}
	return out, nil
}

// ParkedKeys implements Store.
func (s *sqlStore) ParkedKeys(ctx context.Context, flow string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT key FROM dlq WHERE flow = $1`, flow)
	if err != nil {
		return nil, fmt.Errorf("parked keys of %q: %w", flow, err)
	}
	defer rows.Close()
	out := make(map[string]bool)
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("parked keys of %q: %w", flow, err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("parked keys of %q: %w", flow, err)
	}
	return out, nil
}

// Unpark implements Store. The deletes share one transaction so that a
// replay of several entries either unparks all of them or none.
func (s *sqlStore) Unpark(ctx context.Context, seqs ...int64) error {
	if len(seqs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("unpark %v: %w", seqs, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit; the first error is the one to report
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM dlq WHERE seq = $1`)
	if err != nil {
		return fmt.Errorf("unpark %v: %w", seqs, err)
	}
	defer stmt.Close()
	for _, seq := range seqs {
		if _, err := stmt.ExecContext(ctx, seq); err != nil {
			return fmt.Errorf("unpark %d: %w", seq, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("unpark %v: %w", seqs, err)
	}
	return nil
}
