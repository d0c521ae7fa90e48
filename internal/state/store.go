package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// Open opens the state store named by the `state:` setting: a postgres:// or
// postgresql:// DSN selects the PostgreSQL store in schema syncbridge_state;
// anything else is a SQLite file path, optionally prefixed with sqlite:// or
// file:, created when missing.
func Open(ctx context.Context, dsnOrPath string) (Store, error) {
	lower := strings.ToLower(dsnOrPath)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return OpenPostgres(ctx, dsnOrPath)
	}
	path := dsnOrPath
	for _, prefix := range []string{"sqlite://", "file:"} {
		if strings.HasPrefix(lower, prefix) {
			path = dsnOrPath[len(prefix):]
			break
		}
	}
	return OpenSQLite(ctx, path)
}

// sqlStore implements Store over database/sql. The SQL is written once for
// both databases: SQLite and PostgreSQL agree on $N parameters, ON CONFLICT
// upserts and excluded.*; the only difference is how to read the clock.
type sqlStore struct {
	db *sql.DB
	// nowMicros is an SQL expression for the database's current time in unix
	// microseconds. It is a constant of the dialect, never user data.
	nowMicros string
}

// SaveCheckpoint implements Store.
func (s *sqlStore) SaveCheckpoint(ctx context.Context, cp connector.Checkpoint) error {
	if cp.Flow == "" {
		return errors.New("save checkpoint: flow is empty")
	}
	data, err := encode(cp, new(connector.Checkpoint))
	if err != nil {
		return fmt.Errorf("save checkpoint %q: %w", cp.Flow, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO checkpoints (flow, data, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (flow) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
		cp.Flow, data, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("save checkpoint %q: %w", cp.Flow, err)
	}
	return nil
}

// Checkpoint implements Store.
func (s *sqlStore) Checkpoint(ctx context.Context, flow string) (*connector.Checkpoint, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM checkpoints WHERE flow = $1`, flow).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %q: %w", flow, err)
	}
	var cp connector.Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("read checkpoint %q: %w", flow, err)
	}
	return &cp, nil
}

// SetStatus implements Store.
func (s *sqlStore) SetStatus(ctx context.Context, st FlowStatus) error {
	if st.Flow == "" {
		return errors.New("set status: flow is empty")
	}
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = time.Now().UTC()
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("set status %q: %w", st.Flow, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO flow_status (flow, data, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (flow) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
		st.Flow, string(data), st.UpdatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("set status %q: %w", st.Flow, err)
	}
	return nil
}

// Statuses implements Store.
func (s *sqlStore) Statuses(ctx context.Context) ([]FlowStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT flow, data FROM flow_status ORDER BY flow`)
	if err != nil {
		return nil, fmt.Errorf("list statuses: %w", err)
	}
	defer rows.Close()
	var out []FlowStatus
	for rows.Next() {
		var (
			flow string
			data []byte
			st   FlowStatus
		)
		if err := rows.Scan(&flow, &data); err != nil {
			return nil, fmt.Errorf("list statuses: %w", err)
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("list statuses: flow %q: %w", flow, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list statuses: %w", err)
	}
	return out, nil
}

// Close implements Store.
func (s *sqlStore) Close() error { return s.db.Close() }

// encode marshals v and checks that the JSON decodes back into check (a
// pointer to v's type). A value that marshals but cannot be read back (an
// invalid enum writes its "op(0)" form) would otherwise be found only when
// the checkpoint or DLQ is read, and would break every listing after it.
func encode(v, check any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(data, check); err != nil {
		return "", fmt.Errorf("does not decode back: %w", err)
	}
	return string(data), nil
}
