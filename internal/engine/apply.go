package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// applyCounts tallies what one apply call did.
type applyCounts struct {
	applied    [6]int // by change.Op
	lastCommit time.Time
}

func (c *applyCounts) add(o applyCounts) {
	for i := range c.applied {
		c.applied[i] += o.applied[i]
	}
	if o.lastCommit.After(c.lastCommit) {
		c.lastCommit = o.lastCommit
	}
}

func (c *applyCounts) total() int {
	n := 0
	for _, k := range c.applied {
		n += k
	}
	return n
}

// apply maps source changes and applies them in tx. A change that cannot be
// mapped or applied is parked in the dead-letter queue, as is every later
// change to a key that has a parked change; the rest go on. An error return
// means the transaction must be rolled back and retried.
func (f *flowRun) apply(ctx context.Context, tx connector.Tx, changes []change.Change) (applyCounts, error) {
	var counts applyCounts
	for len(changes) > 0 {
		i := 0
		for i < len(changes) && changes[i].Op != change.OpTruncate {
			i++
		}
		c, err := f.applyRows(ctx, tx, changes[:i])
		counts.add(c)
		if err != nil || i == len(changes) {
			return counts, err
		}
		if err := f.truncate(ctx, tx, &changes[i]); err != nil {
			return counts, err
		}
		counts.applied[change.OpTruncate]++
		changes = changes[i+1:]
	}
	return counts, nil
}

// truncate applies a source TRUNCATE in order with the other changes: the
// rows before it are applied, then every target row is removed. A flow with
// `truncate: ignore` logs and counts it instead; a sink that cannot truncate
// parks it, since skipping it silently would leave rows the source dropped.
func (f *flowRun) truncate(ctx context.Context, tx connector.Tx, c *change.Change) error {
	if f.plan.Cfg.Truncate == "ignore" {
		f.m.TruncatesIgnored.WithLabelValues(f.plan.Cfg.Name).Inc()
		f.log.Warn("source table truncated; not propagated (truncate: ignore)", observe.KeyChangeID, c.ID, observe.KeyPosition, c.Position.String())
		return nil
	}
	t, ok := tx.(connector.Truncater)
	if !ok {
		return f.park(ctx, c, fmt.Errorf("the target's driver cannot apply a TRUNCATE; set truncate: ignore on the flow or clear the target yourself, then drop this entry"))
	}
	if err := t.Truncate(ctx); err != nil {
		return fmt.Errorf("apply truncate %s: %w", c.ID, err)
	}
	f.log.Warn("source table truncated; target rows deleted", observe.KeyChangeID, c.ID, observe.KeyPosition, c.Position.String())
	return nil
}

// applyRows maps and applies row changes (no truncates).
func (f *flowRun) applyRows(ctx context.Context, tx connector.Tx, changes []change.Change) (applyCounts, error) {
	var counts applyCounts
	// targets[i] is the target change mapped from sources[i]. They are
	// handed to the sink as they are and compacted in place after a
	// refused change: no copy per attempt.
	targets := make([]change.Change, 0, len(changes))
	sources := make([]*change.Change, 0, len(changes))
	var one [1]change.Change // splitKeyChange's result when c is not split
	for i := range changes {
		c := &changes[i]
		if f.parked.behind(c) {
			if err := f.park(ctx, c, nil); err != nil {
				return counts, err
			}
			continue
		}
		for _, part := range splitKeyChange(c, f.plan.Key, &one) {
			out, keep, err := f.plan.Mapping.Apply(part)
			if err != nil {
				if err := f.park(ctx, c, fmt.Errorf("map: %w", err)); err != nil {
					return counts, err
				}
				break
			}
			if !keep {
				f.m.Filtered.WithLabelValues(f.plan.Cfg.Name).Inc()
				continue
			}
			targets = append(targets, out)
			sources = append(sources, c)
		}
	}
	for len(targets) > 0 {
		err := tx.Apply(ctx, targets)
		var ae *connector.ApplyError
		if err != nil && !errors.As(err, &ae) {
			return counts, fmt.Errorf("apply: %w", err)
		}
		done := len(targets)
		if ae != nil {
			done = ae.Index
		}
		for i := range targets[:done] {
			counts.applied[targets[i].Op]++
			if sources[i].CommitTime.After(counts.lastCommit) {
				counts.lastCommit = sources[i].CommitTime
			}
		}
		if ae == nil {
			break
		}
		bad := sources[ae.Index]
		skip, err := f.orderRefusal(ae, bad, &targets[ae.Index])
		if err != nil {
			return counts, err
		}
		if !skip && !ae.Permanent {
			f.attempts[bad.ID]++
			if f.attempts[bad.ID] < f.plan.Cfg.Retry.MaxAttempts {
				return counts, fmt.Errorf("apply change %s: %w", bad.ID, ae.Err)
			}
		}
		if !skip {
			if err := f.park(ctx, bad, ae.Err); err != nil {
				return counts, err
			}
		}
		// What follows may hold later changes to the parked key, and other
		// parts of the parked change itself (a key change is two parts).
		// Kept ones move down over what is done: index n <= i always.
		n := 0
		for i := ae.Index + 1; i < len(targets); i++ {
			src := sources[i]
			if src == bad {
				continue
			}
			if f.parked.behind(src) {
				if err := f.park(ctx, src, nil); err != nil {
					return counts, err
				}
				continue
			}
			targets[n], sources[n] = targets[i], src
			n++
		}
		clear(targets[n:]) // drop what the moved-out changes point to
		targets, sources = targets[:n], sources[:n]
	}
	return counts, nil
}

// splitKeyChange is transform.SplitKeyChange without its one-element
// slice for the changes it does not split (all but updates that carry a
// Before row): those come back in one, the caller's array.
func splitKeyChange(c *change.Change, key []string, one *[1]change.Change) []change.Change {
	if c.Op != change.OpUpdate || c.Before == nil || c.After == nil {
		one[0] = *c
		return one[:]
	}
	return transform.SplitKeyChange(*c, key)
}

// park puts c in the dead-letter queue. cause is nil when c is parked only
// because an earlier change to its key is parked.
func (f *flowRun) park(ctx context.Context, c *change.Change, cause error) error {
	e := state.DLQEntry{Flow: f.plan.Cfg.Name, ChangeID: c.ID, Key: c.Key.String(), Change: *c,
		Waiting: cause == nil, Attempts: f.attempts[c.ID] + 1, ParkedAt: time.Now().UTC()}
	reason := "waiting"
	if cause != nil {
		e.Error = cause.Error()
		reason = "failed"
	} else {
		e.Error = "waiting behind an earlier parked change to the same key"
	}
	if err := f.eng.state.Park(ctx, e); err != nil {
		return fmt.Errorf("park change %s in the dead-letter queue: %w", c.ID, err)
	}
	delete(f.attempts, c.ID)
	f.parked.add(c)
	f.m.Parked.WithLabelValues(f.plan.Cfg.Name, reason).Inc()
	f.m.DLQDepth.WithLabelValues(f.plan.Cfg.Name).Inc()
	if cause != nil {
		f.log.Error("change parked in the dead-letter queue", "change_id", c.ID, "key", c.Key.String(), "op", c.Op.String(), "error", cause)
	}
	return nil
}

// parkedKeys remembers, per key, the first parked change, so that changes
// after it wait behind it while changes before it (replayed after a crash)
// still apply.
type parkedKeys struct {
	mu    sync.Mutex
	src   connector.Source
	first map[string]*change.Change
}

func loadParked(ctx context.Context, st state.Store, flow string, src connector.Source) (*parkedKeys, error) {
	entries, err := st.DLQ(ctx, flow)
	if err != nil {
		return nil, fmt.Errorf("read dead-letter queue: %w", err)
	}
	p := &parkedKeys{src: src, first: map[string]*change.Change{}}
	for i := range entries {
		p.add(&entries[i].Change)
	}
	return p, nil
}

func (p *parkedKeys) add(c *change.Change) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := c.Key.String()
	if old, ok := p.first[k]; !ok || p.before(c, old) {
		cc := *c
		p.first[k] = &cc
	}
}

// behind reports whether c must wait behind a parked change to its key.
func (p *parkedKeys) behind(c *change.Change) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.first) == 0 {
		return false // the common case: no key string to build
	}
	first, ok := p.first[c.Key.String()]
	if !ok {
		return false
	}
	return first.ID == c.ID || !p.before(c, first)
}

func (p *parkedKeys) before(a, b *change.Change) bool {
	if a.Position == nil || b.Position == nil {
		return false
	}
	c, err := p.src.Compare(a.Position, b.Position)
	return err == nil && c < 0
}

func (p *parkedKeys) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.first)
}
