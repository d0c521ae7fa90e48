package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// fanout is the most parts a range is cut into per bisection step: one
// split query and one checksum query per side return them all (a binary
// search per row in SQL), so a wide cut costs a few kilobytes and saves
// passes over the table: with 100 drifted rows in a million, the second
// step reads 100 parts of a thousand rows instead of most of the table.
const fanout = 1024

// bisectLeaf is the most rows of a range bisection reads and compares row
// by row (less when Options.Leaf is smaller): cutting further costs one
// small query per side, reading costs every column of every row.
const bisectLeaf = 32

// span is a key range with both sides' checksums of it.
type span struct {
	bounds
	from, to connector.Checksum
}

// bisect compares the flow by key-range bisection when both stores
// implement connector.Segmenter; ok is false when they do not (or one
// cannot normalize a column in SQL), and nothing was compared then.
//
// The from store cuts its whole table into up to fanout parts of about
// equal row counts and both sides checksum the parts in one query each: a
// flow in sync costs one pass over each table inside its database. A part
// whose checksums differ is cut again the same way, at keys read from the
// side holding more of its rows, until it holds at most bisectLeaf rows on
// either side; only those are read and compared row by row. No key is read
// except the few split keys, so bytes read stay a small fraction of the
// table when little has drifted.
//
// The parts compared must add up to the whole table on each side. They do
// not when the stores order keys differently (a C collation against a
// linguistic one): a range bounded by one store's keys is then a different
// set of rows in the other. If the tables did not change meanwhile, the
// diff falls back to join, which does not depend on order.
func (d *differ) bisect(ctx context.Context) (ok bool, err error) {
	_, ok1 := d.from.summer.(connector.Segmenter)
	_, ok2 := d.to.summer.(connector.Segmenter)
	if !ok1 || !ok2 {
		return false, nil
	}
	keys, err := d.from.split(ctx, bounds{}, 0, fanout)
	if err != nil {
		return false, err
	}
	parts, err := d.spans(ctx, bounds{}, keys)
	if errors.Is(err, errors.ErrUnsupported) {
		return false, nil // a column has no SQL form: page through the rows
	}
	if err != nil {
		return false, err
	}
	var top span
	for _, p := range parts {
		top.from, top.to = top.from.Add(p.from), top.to.Add(p.to)
	}
	d.total = max(top.from.Count, top.to.Count)
	if err := d.walk(ctx, parts); err != nil {
		return true, err
	}
	if d.seen.from == top.from && d.seen.to == top.to {
		return true, nil
	}
	// The ranges compared do not add up to the tables. Either rows changed
	// meanwhile (the re-check deals with those) or the stores order keys
	// differently, so that a range bounded by one store's keys is not the
	// same set of rows in the other: then compare by streaming.
	var now span
	err = both(func() (err error) {
		now.from, _, err = d.from.checksum(ctx, nil, nil)
		return err
	}, func() (err error) {
		now.to, _, err = d.to.checksum(ctx, nil, nil)
		return err
	})
	if err != nil || now.from != top.from || now.to != top.to {
		return true, err
	}
	d.rep.Notes = append(d.rep.Notes, "the stores order keys differently (collations): compared by streaming both tables")
	return true, d.join(ctx)
}

// walk bisects the spans that differ, depth first in key order.
func (d *differ) walk(ctx context.Context, spans []span) error {
	queue := slices.Clone(spans)
	slices.Reverse(queue)
	for len(queue) > 0 {
		sp := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if sp.from == sp.to {
			d.seen.from, d.seen.to = d.seen.from.Add(sp.from), d.seen.to.Add(sp.to)
			d.rep.RowsCompared += sp.from.Count
			d.progress()
			continue
		}
		parts, err := d.cutSpan(ctx, sp)
		if err != nil {
			return err
		}
		if parts == nil {
			if err := d.compareRange(ctx, sp.bounds); err != nil {
				return err
			}
			continue
		}
		// Last in, first out, in reverse: key order, and the queue stays
		// as short as the tree is deep.
		for i := len(parts) - 1; i >= 0; i-- {
			queue = append(queue, parts[i])
		}
	}
	return nil
}

// cutSpan splits a differing span into parts with both sides' checksums;
// nil means compare its rows: it is small enough, or cutting it does not
// make it smaller (two collations that order its keys differently).
func (d *differ) cutSpan(ctx context.Context, sp span) ([]span, error) {
	rows := max(sp.from.Count, sp.to.Count)
	leaf := int64(min(d.opts.Leaf, bisectLeaf))
	if rows <= leaf {
		return nil, nil
	}
	lead := d.from
	if sp.to.Count > sp.from.Count {
		lead = d.to
	}
	n := int(min(fanout, (rows+leaf-1)/leaf))
	keys, err := lead.split(ctx, sp.bounds, rows, max(n, 2))
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	out, err := d.spans(ctx, sp.bounds, keys)
	if err != nil {
		return nil, err
	}
	for _, p := range out {
		if p.from != p.to && max(p.from.Count, p.to.Count) >= rows {
			return nil, nil
		}
	}
	return out, nil
}

// spans cuts b at keys and checksums the parts on both sides.
func (d *differ) spans(ctx context.Context, b bounds, keys []change.Key) ([]span, error) {
	var fsum, tsum []connector.Checksum
	err := both(func() (err error) {
		fsum, err = d.from.segments(ctx, b, keys)
		return err
	}, func() (err error) {
		tsum, err = d.to.segments(ctx, b, keys)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]span, len(keys)+1)
	lo := b.lo
	for i := range out {
		hi := b.hi
		if i < len(keys) {
			hi = keys[i]
		}
		out[i] = span{bounds: bounds{lo: lo, hi: hi}, from: fsum[i], to: tsum[i]}
		lo = hi
	}
	d.rep.Segments += len(out)
	return out, nil
}

// compareRange reads a differing range on both sides and compares its rows.
func (d *differ) compareRange(ctx context.Context, b bounds) error {
	l := &leaf{bounds: b, fromRows: true, toRows: true}
	err := both(func() (err error) {
		l.from, err = d.from.rangeRows(ctx, b.lo, b.hi, d.opts.Page)
		return err
	}, func() (err error) {
		l.to, err = d.to.rangeRows(ctx, b.lo, b.hi, d.opts.Page)
		return err
	})
	if err != nil {
		return err
	}
	d.seen.from, d.seen.to = d.seen.from.Add(sum(l.from)), d.seen.to.Add(sum(l.to))
	d.rep.Mismatched++
	d.found.compare(l)
	d.rep.RowsCompared += int64(len(l.from))
	d.progress()
	return nil
}

func (d *differ) progress() {
	if d.opts.Progress != nil {
		d.opts.Progress(d.rep.RowsCompared, d.total)
	}
}

// split asks the store for keys that cut b into parts.
func (s *side) split(ctx context.Context, b bounds, rows int64, parts int) ([]change.Key, error) {
	keys, err := s.summer.(connector.Segmenter).SplitKeys(ctx, s.request(b), rows, parts)
	if err != nil {
		return nil, fmt.Errorf("%s side: split: %w", s.name, err)
	}
	s.stats.Queries++
	for _, k := range keys {
		s.stats.Rows++
		s.stats.Bytes += keyBytes(k)
	}
	return keys, nil
}

// segments asks the store for the checksums of b cut at keys.
func (s *side) segments(ctx context.Context, b bounds, keys []change.Key) ([]connector.Checksum, error) {
	sums, err := s.summer.(connector.Segmenter).ChecksumSegments(ctx, s.request(b), keys)
	if errors.Is(err, errors.ErrUnsupported) {
		s.summer = nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s side: checksum: %w", s.name, err)
	}
	s.stats.Queries++
	s.stats.Bytes += checksumBytes * int64(len(sums))
	return sums, nil
}

func (s *side) request(b bounds) connector.ChecksumRequest {
	return connector.ChecksumRequest{Table: s.table, Key: s.key, Columns: s.cols, After: b.lo, Until: b.hi}
}

// both runs f and g concurrently (one on each store) and returns both
// errors.
func both(f, g func() error) error {
	var wg sync.WaitGroup
	var ef error
	wg.Go(func() { ef = f() })
	eg := g()
	wg.Wait()
	return errors.Join(ef, eg)
}

// join compares the two tables whole, each read in its own key order, and
// pairs rows by normalized key: correct whatever order the stores use, and
// as costly as an export. Rows wait in memory until their other half shows
// up, so memory grows with how differently the stores order keys.
func (d *differ) join(ctx context.Context) error {
	d.found = newFindings(d.from, d.to)
	d.rep.RowsCompared, d.rep.Mismatched = 0, 1
	pending := [2]map[string]entry{{}, {}}
	cursor := [2]change.Key{}
	done := [2]bool{}
	l := &leaf{fromRows: true, toRows: true}
	for !done[0] || !done[1] {
		for i, s := range []*side{d.from, d.to} {
			if done[i] {
				continue
			}
			es, last, err := s.scan(ctx, cursor[i], nil, d.opts.Page)
			if err != nil {
				return err
			}
			done[i], cursor[i] = last == nil, last
			if i == 0 {
				d.rep.RowsCompared += int64(len(es))
			}
			for _, e := range es {
				other, ok := pending[1-i][e.keyText]
				if !ok {
					pending[i][e.keyText] = e
					continue
				}
				delete(pending[1-i], e.keyText)
				if other.text != e.text {
					l.from, l.to = append(l.from, pick(i == 0, e, other)), append(l.to, pick(i == 0, other, e))
				}
			}
		}
		d.progress()
	}
	for _, e := range pending[0] {
		l.from = append(l.from, e)
	}
	for _, e := range pending[1] {
		l.to = append(l.to, e)
	}
	d.found.compare(l)
	return nil
}

func pick(first bool, a, b entry) entry {
	if first {
		return a
	}
	return b
}
