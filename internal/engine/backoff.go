package engine

import (
	"math/rand/v2"
	"time"

	"github.com/syncbridge/syncbridge/internal/config"
)

// backoff is exponential backoff with full jitter: each wait is uniform in
// [d/2, d], d doubling from the first backoff up to the cap.
type backoff struct {
	first, max, cur time.Duration
}

func newBackoff(r config.Retry) *backoff {
	first, max := r.Backoff.D(), r.MaxBackoff.D()
	if first <= 0 {
		first = 200 * time.Millisecond
	}
	if max < first {
		max = first
	}
	return &backoff{first: first, max: max}
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.first
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}

func (b *backoff) reset() { b.cur = 0 }
