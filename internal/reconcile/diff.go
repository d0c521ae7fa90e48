package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/engine"
)

// Options tune one diff. The zero value is usable.
type Options struct {
	// Leaf is the rows per leaf segment (default 256): ranges read and
	// compared row by row. Bisection inside the databases cuts further,
	// to at most bisectLeaf rows.
	Leaf int
	Page int // rows per read of the leading side (default 4096)
	// Recheck is how long to wait before confirming rows found drifted; the
	// caller passes the larger of --recheck and the flow's current lag. Zero
	// reports at once (nothing is re-checked).
	Recheck time.Duration
	// Progress, when set, is told how many source rows have been compared;
	// total is -1 when the store cannot count.
	Progress func(done, total int64)
}

func (o Options) withDefaults() Options {
	if o.Leaf <= 0 {
		o.Leaf = 256
	}
	if o.Page < o.Leaf {
		o.Page = max(4096, o.Leaf)
	}
	return o
}

// bounds is the key range (lo, hi] in the leading store's key values; nil
// ends are open.
type bounds struct{ lo, hi change.Key }

func (b bounds) id() string {
	s := func(k change.Key) string {
		if k == nil {
			return "\x00open"
		}
		return k.String()
	}
	return s(b.lo) + "\x00" + s(b.hi)
}

// leaf is one leaf segment of a page, with whatever is known of both sides.
type leaf struct {
	bounds
	from, to         []entry
	fromRows, toRows bool // the entries are complete (not yet fetched when false)
	fromSum, toSum   connector.Checksum
}

// differ holds one diff's state.
type differ struct {
	opts     Options
	from, to *side
	rep      *FlowReport
	found    *findings
	total    int64
	seen     span // bisect: the checksums of every range compared so far
}

// Diff compares the two stores of fp and reports every drifted row.
//
// When both stores implement connector.Segmenter it bisects the key space
// inside the databases (see bisect). Otherwise it pages:
// the from side leads: it is read in key order one page at a time (only its
// keys when the database checksums it), and each page is cut into leaves of
// opts.Leaf rows, whose last keys bound them. Each side then gives a
// checksum per leaf: computed here from streamed rows, or by the database
// (connector.Checksummer) — first for the whole page, and per leaf only when
// the page differs, since checksums add up. Only leaves whose checksums
// differ are compared row by row; rows the two stores place in different
// leaves (collations that order text differently) are paired by key at the
// end, so they are never reported as missing and extra.
func Diff(ctx context.Context, fp *engine.FlowPlan, opts Options) (*FlowReport, error) {
	start := time.Now()
	opts = opts.withDefaults()
	from, to, err := newSides(fp)
	if err != nil {
		return nil, err
	}
	d := &differ{opts: opts, from: from, to: to, rep: &FlowReport{Name: fp.Cfg.Name}, found: newFindings(from, to), total: -1}
	if rc, ok := fp.From.(connector.RowCounter); ok && opts.Progress != nil {
		if n, err := rc.CountRows(ctx, fp.Cfg.From.Table); err == nil {
			d.total = n
		}
	}
	bisected, err := d.bisect(ctx)
	if err == nil && !bisected {
		err = d.run(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", fp.Cfg.Name, err)
	}
	if opts.Recheck > 0 && d.found.len() > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(opts.Recheck):
		}
		if err := d.found.recheck(ctx, opts.Page); err != nil {
			return nil, fmt.Errorf("flow %s: re-check: %w", fp.Cfg.Name, err)
		}
	}
	d.found.fill(d.rep)
	d.rep.From, d.rep.To = from.stats, to.stats
	d.rep.From.Checksum, d.rep.To.Checksum = by(from), by(to)
	d.rep.InSync = !d.rep.Drift()
	d.rep.DurationMS = time.Since(start).Milliseconds()
	return d.rep, nil
}

func by(s *side) string {
	if s.summer != nil {
		return "database"
	}
	return "streaming"
}

// run walks the from side's key space page by page.
func (d *differ) run(ctx context.Context) error {
	var cursor change.Key
	keysOnly := d.from.summer != nil
	for {
		es, last, n, err := d.leadPage(ctx, cursor, keysOnly)
		if err != nil {
			return err
		}
		final := n < d.opts.Page
		pg := bounds{lo: cursor, hi: last}
		if final {
			pg.hi = nil
		}
		leaves := d.cut(pg, es, !keysOnly)
		if err := d.page(ctx, pg, leaves); err != nil {
			return err
		}
		if d.opts.Progress != nil {
			d.opts.Progress(d.from.stats.Rows, d.total)
		}
		if final {
			return nil
		}
		cursor = last
	}
}

// leadPage reads one page of the from side; n counts the rows read,
// including those the flow's filter drops.
func (d *differ) leadPage(ctx context.Context, after change.Key, keysOnly bool) ([]entry, change.Key, int, error) {
	before := d.from.stats.Rows
	if !keysOnly {
		es, last, err := d.from.scan(ctx, after, nil, d.opts.Page)
		return es, last, int(d.from.stats.Rows - before), err
	}
	read := d.from.read
	d.from.read = d.from.key
	es, last, err := d.from.scan(ctx, after, nil, d.opts.Page)
	d.from.read = read
	return es, last, int(d.from.stats.Rows - before), err
}

// cut splits a page into leaves of at most opts.Leaf entries; the last leaf
// ends where the page ends.
func (d *differ) cut(pg bounds, es []entry, complete bool) []*leaf {
	var out []*leaf
	lo := pg.lo
	for i := 0; i < len(es); i += d.opts.Leaf {
		j := min(i+d.opts.Leaf, len(es))
		lf := &leaf{bounds: bounds{lo: lo, hi: es[j-1].key}, fromRows: complete}
		if complete {
			lf.from = es[i:j]
			lf.fromSum = sum(lf.from)
		}
		out = append(out, lf)
		lo = lf.hi
	}
	if len(out) == 0 {
		out = append(out, &leaf{bounds: pg, fromRows: complete})
	}
	out[len(out)-1].hi = pg.hi
	d.rep.Segments += len(out)
	return out
}

// page compares one page: whole-page checksums first, then leaves, then the
// rows of the leaves that differ.
func (d *differ) page(ctx context.Context, pg bounds, leaves []*leaf) error {
	if d.to.summer == nil {
		es, err := d.to.rangeRows(ctx, pg.lo, pg.hi, d.opts.Page)
		if err != nil {
			return err
		}
		bucket(leaves, es)
	}
	fromPage, err := d.pageSum(ctx, d.from, pg, leaves, func(l *leaf) (bool, connector.Checksum) { return l.fromRows, l.fromSum })
	if err != nil {
		return err
	}
	toPage, err := d.pageSum(ctx, d.to, pg, leaves, func(l *leaf) (bool, connector.Checksum) { return l.toRows, l.toSum })
	if err != nil {
		return err
	}
	if fromPage == toPage {
		d.rep.RowsCompared += fromPage.Count
		return nil
	}
	for _, l := range leaves {
		if err := d.leaf(ctx, l, len(leaves) == 1, fromPage, toPage); err != nil {
			return err
		}
	}
	return nil
}

// pageSum is the checksum of a page on one side: the sum of its leaves when
// their rows are in hand, else one database checksum of the whole page.
func (d *differ) pageSum(ctx context.Context, s *side, pg bounds, leaves []*leaf, have func(*leaf) (bool, connector.Checksum)) (connector.Checksum, error) {
	var total connector.Checksum
	complete := true
	for _, l := range leaves {
		ok, c := have(l)
		complete = complete && ok
		total = total.Add(c)
	}
	if complete {
		return total, nil
	}
	c, ok, err := s.checksum(ctx, pg.lo, pg.hi)
	if err != nil || ok {
		return c, err
	}
	// The database cannot checksum: stream the page instead.
	es, err := s.rangeRows(ctx, pg.lo, pg.hi, d.opts.Page)
	if err != nil {
		return c, err
	}
	if s == d.from {
		for _, l := range leaves {
			l.from, l.fromRows = nil, true
		}
		bucketFrom(leaves, es)
	} else {
		bucket(leaves, es)
	}
	return sum(es), nil
}

// leaf compares one leaf of a page that differs. single means the leaf is
// the whole page, whose checksums are already known.
func (d *differ) leaf(ctx context.Context, l *leaf, single bool, fromPage, toPage connector.Checksum) error {
	for _, x := range []struct {
		s    *side
		es   *[]entry
		rows *bool
		sum  *connector.Checksum
		page connector.Checksum
	}{{d.from, &l.from, &l.fromRows, &l.fromSum, fromPage}, {d.to, &l.to, &l.toRows, &l.toSum, toPage}} {
		if *x.rows {
			continue
		}
		if single {
			*x.sum = x.page
			continue
		}
		c, ok, err := x.s.checksum(ctx, l.lo, l.hi)
		if err != nil {
			return err
		}
		if !ok { // the database stopped checksumming: read the leaf
			if *x.es, err = x.s.rangeRows(ctx, l.lo, l.hi, d.opts.Page); err != nil {
				return err
			}
			*x.rows, c = true, sum(*x.es)
		}
		*x.sum = c
	}
	if l.fromSum == l.toSum {
		d.rep.RowsCompared += l.fromSum.Count
		return nil
	}
	d.rep.Mismatched++
	var err error
	if !l.fromRows {
		if l.from, err = d.from.rangeRows(ctx, l.lo, l.hi, d.opts.Page); err != nil {
			return err
		}
	}
	if !l.toRows {
		if l.to, err = d.to.rangeRows(ctx, l.lo, l.hi, d.opts.Page); err != nil {
			return err
		}
	}
	d.found.compare(l)
	d.rep.RowsCompared += int64(len(l.from))
	return nil
}

// bucket puts to-side entries into the leaves whose range holds their key.
// Both sides are read in key order, so one forward walk does it; a row the
// two stores order differently lands in a neighbouring leaf, and findings
// pairs it up by key.
func bucket(leaves []*leaf, es []entry) {
	i := 0
	for _, e := range es {
		for i < len(leaves)-1 && leaves[i].hi != nil && e.key.Compare(leaves[i].hi) > 0 {
			i++
		}
		leaves[i].to = append(leaves[i].to, e)
	}
	for _, l := range leaves {
		l.toRows, l.toSum = true, sum(l.to)
	}
}

func bucketFrom(leaves []*leaf, es []entry) {
	i := 0
	for _, e := range es {
		for i < len(leaves)-1 && leaves[i].hi != nil && e.key.Compare(leaves[i].hi) > 0 {
			i++
		}
		leaves[i].from = append(leaves[i].from, e)
	}
	for _, l := range leaves {
		l.fromSum = sum(l.from)
	}
}
