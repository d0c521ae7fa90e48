package postgres

import (
	"github.com/syncbridge/syncbridge/internal/change"
)

// segment is a run of changes whose keys need no ordering among themselves:
// no key is both upserted and deleted in it. Applying its deletes and then
// its upserts, each in any order, equals applying its changes one by one.
type segment struct {
	deletes []change.Key
	upserts []*upsertRow
	delSeen map[string]bool
	upsSeen map[string]*upsertRow
	// slab holds the upsertRows, allocated slabSize at a time rather than
	// one by one.
	slab     []upsertRow
	slabSize int
}

func (s *segment) newRow() *upsertRow {
	if len(s.slab) == cap(s.slab) {
		s.slab = make([]upsertRow, 0, s.slabSize)
	}
	s.slab = s.slab[:len(s.slab)+1]
	return &s.slab[len(s.slab)-1]
}

// upsertRow is the net effect of a segment's upserts of one key: later
// values win, and the columns are the union of those written (an update
// that left a TOAST column out keeps the value an earlier change wrote).
// values is the change's own After until a second change of the key makes
// the row copy it.
type upsertRow struct {
	values change.Row
	owned  bool
	insert bool // its first change is an insert or a snapshot row: the key is most likely new
}

// plan splits changes into segments, keeping the per-key order: a new
// segment starts when a change's key was given the other operation in the
// current one.
func plan(changes []change.Change) []*segment {
	var out []*segment
	cur := newSegment(len(changes))
	for i := range changes {
		c := &changes[i]
		k := keyString(c.Key)
		if c.Op == change.OpDelete {
			if cur.upsSeen[k] != nil {
				out, cur = append(out, cur), newSegment(len(changes)-i)
			}
			if !cur.delSeen[k] {
				cur.delSeen[k] = true
				cur.deletes = append(cur.deletes, c.Key)
			}
			continue
		}
		if cur.delSeen[k] {
			out, cur = append(out, cur), newSegment(len(changes)-i)
		}
		r := cur.upsSeen[k]
		if r == nil {
			r = cur.newRow()
			*r = upsertRow{values: c.After, insert: c.Op == change.OpInsert || c.Op == change.OpSnapshot}
			cur.upsSeen[k] = r
			cur.upserts = append(cur.upserts, r)
			continue
		}
		if !r.owned {
			r.values, r.owned = r.values.Clone(), true
		}
		for col, v := range c.After {
			r.values[col] = v
		}
	}
	if len(cur.deletes)+len(cur.upserts) > 0 {
		out = append(out, cur)
	}
	return out
}

func newSegment(sizeHint int) *segment {
	n := max(1, min(sizeHint, 4096))
	return &segment{delSeen: map[string]bool{}, upsSeen: make(map[string]*upsertRow, n),
		upserts: make([]*upsertRow, 0, n), slabSize: n}
}

// keyString is k.String(), without the slice of parts for a one-column key.
func keyString(k change.Key) string {
	if len(k) == 1 {
		return k[0].String()
	}
	return k.String()
}

// upsertGroup is a segment's upserts that write the same columns: one
// statement writes them.
type upsertGroup struct {
	cols    []string // in table order
	rows    []change.Row
	inserts bool // every row is an insert: the keys are most likely new
}

// groups splits the segment's upserts by the set of columns they write,
// with columns in the order of tableCols. Rows hold validated columns only,
// so a row with as many columns as the table writes all of them.
func (s *segment) groups(tableCols []string) []upsertGroup {
	var out []upsertGroup
	index := map[string]int{}
	var sig []byte
	for _, r := range s.upserts {
		sig = sig[:0]
		if len(r.values) != len(tableCols) {
			for _, c := range tableCols {
				if _, ok := r.values[c]; ok {
					sig = append(sig, c...)
					sig = append(sig, 0)
				}
			}
		}
		i, ok := index[string(sig)]
		if !ok {
			i = len(out)
			index[string(sig)] = i
			var cols []string
			for _, c := range tableCols {
				if _, ok := r.values[c]; ok {
					cols = append(cols, c)
				}
			}
			out = append(out, upsertGroup{cols: cols, inserts: true})
		}
		out[i].rows = append(out[i].rows, r.values)
		out[i].inserts = out[i].inserts && r.insert
	}
	return out
}
