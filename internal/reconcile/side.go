package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// side is one store of a flow as reconciliation reads it. Whatever the
// store, rows come out in the target's model: the from side maps each row
// through the flow's Mapping, the to side is read as it is, and both are
// hashed over the same target columns normalized the same way.
type side struct {
	name    string // "from" or "to"
	flow    string
	scanner connector.Scanner
	table   string
	key     []string // this store's key columns, in key order
	read    []string // columns to read; nil = all
	mapping *transform.Mapping
	cols    []connector.ChecksumColumn // target columns, as this store names them for summer
	norm    []connector.ChecksumColumn // target columns, target names: what rows are hashed on
	keyCols []string                   // target key columns
	summer  connector.Checksummer      // nil: stream rows and hash them here
	stats   SideStats
}

// entry is one row of a side: its key as the store holds it (for paging),
// its target-model row (for repair) and its normalized text and hash.
type entry struct {
	key     change.Key
	keyText string
	row     change.Row
	text    string
	hash    uint64
}

// newSides builds both sides of fp. The from side can use an in-database
// checksum only when its normalized text is computable in SQL: every target
// column a plain rename and no filter. Expressions run in Go, so a mapped
// source streams.
func newSides(fp *engine.FlowPlan) (from, to *side, err error) {
	fs, ok1 := fp.From.(connector.Scanner)
	ts, ok2 := fp.To.(connector.Scanner)
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("flow %s: %w", fp.Cfg.Name, ErrNoScanner)
	}
	m := fp.Mapping
	renames := m.Renames()
	var norm, srcCols, dstCols []connector.ChecksumColumn
	identity := fp.Cfg.Filter == ""
	for _, tc := range m.TargetColumns() {
		col, _ := fp.ToTable.Column(tc)
		c := connector.ChecksumColumn{Name: tc, Kind: col.Kind, TrimSpace: isChar(col.Type)}
		src, isRename := renames[tc]
		if isRename {
			if sc, ok := fp.FromTable.Column(src); ok && isChar(sc.Type) {
				c.TrimSpace = true
			}
		} else {
			identity = false
		}
		norm = append(norm, c)
		dstCols = append(dstCols, c)
		srcCols = append(srcCols, connector.ChecksumColumn{Name: src, Kind: c.Kind, TrimSpace: c.TrimSpace})
	}
	from = &side{name: "from", flow: fp.Cfg.Name, scanner: fs, table: fp.Cfg.From.Table, key: fp.Key,
		read: m.SourceColumns(), mapping: m, cols: srcCols, norm: norm, keyCols: m.TargetKey()}
	to = &side{name: "to", flow: fp.Cfg.Name, scanner: ts, table: fp.Cfg.To.Table, key: m.TargetKey(),
		read: m.TargetColumns(), cols: dstCols, norm: norm, keyCols: m.TargetKey()}
	if cs, ok := fp.From.(connector.Checksummer); ok && identity {
		from.summer = cs
	}
	if cs, ok := fp.To.(connector.Checksummer); ok {
		to.summer = cs
	}
	return from, to, nil
}

// scan reads one page of (after, until] and returns its entries and the
// store key of the last row read (nil when none). Rows the flow's filter
// drops, or that cannot be mapped, are read but yield no entry: the flow
// never writes them, and the dead-letter queue holds the unmappable ones.
func (s *side) scan(ctx context.Context, after, until change.Key, limit int) ([]entry, change.Key, error) {
	rows, err := s.scanner.Scan(ctx, connector.ScanRequest{Table: s.table, Key: s.key, Columns: s.read,
		After: after, Until: until, Limit: limit})
	if err != nil {
		return nil, nil, fmt.Errorf("%s side: %w", s.name, err)
	}
	s.stats.Queries++
	var last change.Key
	out := make([]entry, 0, len(rows))
	for _, r := range rows {
		s.stats.Rows++
		s.stats.Bytes += rowBytes(r)
		k, ok := change.KeyOf(r, s.key)
		if !ok {
			return nil, nil, fmt.Errorf("%s side: scan of %s returned a row without its key", s.name, s.table)
		}
		last = k
		e, ok := s.entry(k, r)
		if ok {
			out = append(out, e)
		}
	}
	return out, last, nil
}

func (s *side) entry(k change.Key, r change.Row) (entry, bool) {
	row := r
	if s.mapping != nil {
		out, keep, err := s.mapping.Apply(change.Change{ID: "reconcile", Flow: s.flow, Op: change.OpSnapshot,
			Table: s.table, Key: k, After: r})
		if err != nil {
			s.stats.Unmappable++
			return entry{}, false
		}
		if !keep {
			return entry{}, false
		}
		row = out.After
	}
	text := RowText(row, s.norm)
	return entry{key: k, keyText: s.keyText(row), row: row, text: text, hash: RowHash(text)}, true
}

// keyText is the normalized target key of row: equal on both sides for the
// same logical row whatever the stores' key types.
func (s *side) keyText(row change.Row) string {
	cols := make([]connector.ChecksumColumn, len(s.keyCols))
	for i, k := range s.keyCols {
		for _, c := range s.norm {
			if c.Name == k {
				cols[i] = c
			}
		}
		cols[i].Name = k
	}
	return RowText(row, cols)
}

// rangeRows reads every entry of (after, until], page by page.
func (s *side) rangeRows(ctx context.Context, after, until change.Key, page int) ([]entry, error) {
	var out []entry
	for {
		es, last, err := s.scan(ctx, after, until, page)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
		if last == nil {
			return out, nil
		}
		after = last
	}
}

// checksum computes the checksum of (after, until] in the database. ok is
// false when the side has no usable Checksummer; the first ErrUnsupported
// turns it off for the rest of the run.
func (s *side) checksum(ctx context.Context, after, until change.Key) (connector.Checksum, bool, error) {
	if s.summer == nil {
		return connector.Checksum{}, false, nil
	}
	c, err := s.summer.Checksum(ctx, connector.ChecksumRequest{Table: s.table, Key: s.key, Columns: s.cols,
		After: after, Until: until})
	if errors.Is(err, errors.ErrUnsupported) {
		s.summer = nil
		return connector.Checksum{}, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("%s side: checksum: %w", s.name, err)
	}
	s.stats.Queries++
	s.stats.Bytes += checksumBytes
	return c, true, nil
}

// checksumBytes is what one range's checksum costs in SideStats.Bytes: a
// count and a sum.
const checksumBytes = 16

// rowBytes estimates the bytes a row carried over the wire: text-like
// values by length, fixed-size ones as 8. Every result a store returns to
// reconciliation (rows, keys, checksums) is counted this way, and so is a
// full export in the benchmark, so the figures compare.
func rowBytes(r change.Row) int64 {
	var n int64
	for _, v := range r {
		n += valueBytes(v)
	}
	return n
}

func keyBytes(k change.Key) int64 {
	var n int64
	for _, v := range k {
		n += valueBytes(v)
	}
	return n
}

func valueBytes(v change.Value) int64 {
	switch v.Kind {
	case change.KindText, change.KindDecimal, change.KindJSON, change.KindUUID, change.KindUnknown, change.KindTime:
		return int64(len(v.String()))
	case change.KindBytes:
		return int64(len(v.AsBytes()))
	case change.KindNull:
		return 1
	}
	return 8
}

func sum(es []entry) connector.Checksum {
	var c connector.Checksum
	for _, e := range es {
		c.Count++
		c.Sum += e.hash
	}
	return c
}
