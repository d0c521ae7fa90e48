package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Report is one reconciliation of one flow: counts for status and metrics,
// and the full report (the JSON `diff` prints) in Detail.
type Report struct {
	ID        int64           `json:"id"` // assigned by SaveReport
	Flow      string          `json:"flow"`
	StartedAt time.Time       `json:"started_at"`
	Duration  time.Duration   `json:"duration"`
	InSync    bool            `json:"in_sync"`
	Missing   int             `json:"missing"`
	Extra     int             `json:"extra"`
	Different int             `json:"different"`
	Moving    int             `json:"moving"`
	Repaired  int             `json:"repaired"` // corrective changes applied
	Detail    json.RawMessage `json:"detail,omitempty"`
}

// SaveReport implements Store.
func (s *sqlStore) SaveReport(ctx context.Context, r Report) error {
	if r.Flow == "" {
		return errors.New("save report: flow is empty")
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	detail := string(r.Detail)
	if detail == "" {
		detail = "{}"
	}
	if !json.Valid([]byte(detail)) {
		return fmt.Errorf("save report of %q: detail is not JSON", r.Flow)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO reconcile_runs
		(flow, started_at, duration_us, in_sync, missing, extra, different, moving, repaired, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.Flow, r.StartedAt.UnixMicro(), r.Duration.Microseconds(), r.InSync, r.Missing, r.Extra,
		r.Different, r.Moving, r.Repaired, detail)
	if err != nil {
		return fmt.Errorf("save report of %q: %w", r.Flow, err)
	}
	return nil
}

// Reports implements Store.
func (s *sqlStore) Reports(ctx context.Context, flow string, limit int) ([]Report, error) {
	if limit <= 0 {
		limit = 1
	}
	const cols = `SELECT id, flow, started_at, duration_us, in_sync, missing, extra, different, moving, repaired, detail FROM reconcile_runs`
	query, args := cols+` ORDER BY id DESC LIMIT $1`, []any{limit}
	if flow != "" {
		query, args = cols+` WHERE flow = $1 ORDER BY id DESC LIMIT $2`, []any{flow, limit}
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list reports of %q: %w", flow, err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		var (
			r           Report
			started, us int64
			detail      []byte
		)
		if err := rows.Scan(&r.ID, &r.Flow, &started, &us, &r.InSync, &r.Missing, &r.Extra, &r.Different,
			&r.Moving, &r.Repaired, &detail); err != nil {
			return nil, fmt.Errorf("list reports of %q: %w", flow, err)
		}
		r.StartedAt, r.Duration, r.Detail = time.UnixMicro(started).UTC(), time.Duration(us)*time.Microsecond, detail
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list reports of %q: %w", flow, err)
	}
	return out, nil
}
