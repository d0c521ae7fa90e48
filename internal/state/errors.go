package state

import (
	"errors"
	"fmt"
	"time"
)

// ErrLeaseHeld is wrapped by AcquireLease when another holder has the lease.
var ErrLeaseHeld = errors.New("lease held by another instance")

// LeaseHeldError is what AcquireLease returns when another live holder has
// the lease. It names the holder and the expiry so an operator can tell a
// second running instance from a crashed one whose lease has yet to run out.
type LeaseHeldError struct {
	Name    string
	Holder  string
	Expires time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("lease %q is held by %q until %s", e.Name, e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrLeaseHeld) true.
func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }
