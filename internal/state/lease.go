package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// leaseAttempts bounds how often AcquireLease retries when the lease it was
// refused is gone by the time it looks at it (released or expired between
// the two statements). Each retry means another holder is churning the
// lease, so a few are plenty.
const leaseAttempts = 3

// AcquireLease implements Store. The decision is one upsert: it inserts the
// lease, or takes it over only when the caller already holds it or it has
// expired. A single statement is atomic in both databases, so of several
// concurrent callers exactly one changes the row and the others see zero
// rows affected. Only then is the row read to name the holder in the error.
func (s *sqlStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) error {
	if name == "" || holder == "" {
		return fmt.Errorf("acquire lease %q: name and holder are required", name)
	}
	if ttl < time.Microsecond { // the resolution of expires_at
		return fmt.Errorf("acquire lease %q: ttl %s is too short", name, ttl)
	}
	upsert := `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, ` + s.nowMicros + ` + $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ` + s.nowMicros
	for range leaseAttempts {
		res, err := s.db.ExecContext(ctx, upsert, name, holder, ttl.Microseconds())
		if err != nil {
			return fmt.Errorf("acquire lease %q: %w", name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("acquire lease %q: %w", name, err)
		}
		if n > 0 {
			return nil
		}
		held, err := s.leaseHolder(ctx, name)
		if err != nil {
			return fmt.Errorf("acquire lease %q: %w", name, err)
		}
		switch {
		case held == nil:
			continue // freed between the two statements: try again
		case held.Holder == holder:
			return nil // a concurrent call by the same holder renewed it
		default:
			return held
		}
	}
	return fmt.Errorf("acquire lease %q: contended, gave up after %d attempts", name, leaseAttempts)
}

// leaseHolder returns the live holder of a lease, or nil when the lease is
// free or expired.
func (s *sqlStore) leaseHolder(ctx context.Context, name string) (*LeaseHeldError, error) {
	var (
		holder  string
		expires int64
		live    bool
	)
	err := s.db.QueryRowContext(ctx, `SELECT holder, expires_at, expires_at > `+s.nowMicros+`
		FROM leases WHERE name = $1`, name).Scan(&holder, &expires, &live)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !live) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &LeaseHeldError{Name: name, Holder: holder, Expires: time.UnixMicro(expires).UTC()}, nil
}

// ReleaseLease implements Store.
func (s *sqlStore) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	if err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}
