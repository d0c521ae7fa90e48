package mysql

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/syncbridge/syncbridge/internal/change"
)

// rows decodes a rows event of the flow's table into pending changes.
//
// Row events carry values by column position only (binlog_row_metadata may
// be MINIMAL, without names), so names and types come from Describe. After
// a DDL, or when the event's column count differs from the description, the
// table is described again; an event that still does not match (replaying
// events older than a column change) stops the stream with a clear error
// rather than decoding values under the wrong names.
func (st *stream) rows(ctx context.Context, e *replication.RowsEvent, h *replication.EventHeader) error {
	if st.stale || int(e.ColumnCount) != len(st.src.t.cols) {
		t, err := st.src.s.describe(ctx, st.src.s.db, st.src.spec.Table)
		if err != nil {
			return fmt.Errorf("describe after a schema change: %w", err)
		}
		st.src.t, st.stale = t, false
		st.setCarry()
		if int(e.ColumnCount) != len(t.cols) {
			return fmt.Errorf("the binlog row has %d columns but the table now has %d: the table changed "+
				"after this event was written; re-backfill the flow from a position after the change", e.ColumnCount, len(t.cols))
		}
	}
	var op change.Op
	step := 1
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		op = change.OpInsert
	case replication.EnumRowsEventTypeUpdate:
		op, step = change.OpUpdate, 2
	case replication.EnumRowsEventTypeDelete:
		op = change.OpDelete
	default:
		return fmt.Errorf("unsupported rows event %s", h.EventType)
	}
	commit := time.Unix(int64(h.Timestamp), 0).UTC()
	for i := 0; i+step <= len(e.Rows); i += step {
		first, err := st.row(e, i)
		if err != nil {
			return err
		}
		c := change.Change{Flow: st.src.spec.Flow, Op: op, Table: st.src.spec.Table, CommitTime: commit,
			TxID: st.txID, Position: st.posBytes}
		switch op {
		case change.OpInsert:
			c.After = first
		case change.OpDelete:
			c.Before = first
		case change.OpUpdate:
			c.Before = first
			if c.After, err = st.row(e, i+1); err != nil {
				return err
			}
			c.Columns = changedColumns(st.src.t, c.Before, c.After)
		}
		img := c.After
		if img == nil {
			img = c.Before
		}
		c.Key, _ = change.KeyOf(img, st.src.spec.Key)
		c.ID = st.src.s.name + ":" + st.src.spec.Table + ":" + st.txID + ":" + strconv.Itoa(st.txSeq)
		st.txSeq++
		st.pending = append(st.pending, c)
	}
	return nil
}

// row decodes image i of a rows event.
func (st *stream) row(e *replication.RowsEvent, i int) (change.Row, error) {
	t := st.src.t
	if i < len(e.SkippedColumns) {
		for _, idx := range e.SkippedColumns[i] {
			if idx < len(t.cols) && !t.cols[idx].Generated && st.carry[idx] {
				return nil, fmt.Errorf("%w: column %q is missing from the row image: "+
					"run SET GLOBAL binlog_row_image = 'FULL' (and binlog_row_image=FULL in my.cnf)", errRowImage, t.cols[idx].Name)
			}
		}
	}
	raw := e.Rows[i]
	out := make(change.Row, len(t.cols))
	for j := range t.cols {
		if !st.carry[j] || j >= len(raw) {
			continue
		}
		v, err := st.src.s.decode(&t.cols[j], raw[j])
		if err != nil {
			return nil, err
		}
		out[t.cols[j].Name] = v
	}
	return out, nil
}

// changedColumns lists, in table order, the columns whose value differs
// between two images.
func changedColumns(t *table, before, after change.Row) []string {
	var out []string
	for _, c := range t.cols {
		a, ok := after[c.Name]
		if !ok {
			continue
		}
		if b, ok := before[c.Name]; !ok || !change.Equal(a, b) {
			out = append(out, c.Name)
		}
	}
	return out
}
