package mysql

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// rows decodes a rows event of the flow's table into pending changes.
//
// Row events carry values by column position; names and types come from
// Describe. After a DDL, or when the event does not match the description,
// the table is described again. With binlog_row_metadata=FULL the table map
// names the columns, and values are matched by name: events written before
// an added or dropped column still decode (a column the event lacks is left
// out of the change, so the target keeps its value). Without names an
// event whose column count differs from the table's (replaying events
// older than a column change) stops the stream with a clear error, wrapping
// connector.ErrPositionLost, rather than decoding values under the wrong
// names.
func (st *stream) rows(ctx context.Context, e *replication.RowsEvent, h *replication.EventHeader) error {
	named := len(e.Table.ColumnName) == int(e.ColumnCount)
	if st.stale || !st.matches(e, named) {
		t, err := st.src.s.describe(ctx, st.src.s.db, st.src.spec.Table)
		if err != nil {
			return fmt.Errorf("describe after a schema change: %w", err)
		}
		st.src.t, st.stale = t, false
		st.setCarry()
		if !st.matches(e, named) {
			return fmt.Errorf("%w: the binlog row has %d columns but the table now has %d: the table changed "+
				"after this event was written, and without column names in the binlog (binlog_row_metadata=FULL) "+
				"its values cannot be matched to columns; re-backfill the flow with `syncbridge reset --flow %s --yes`, "+
				"and set binlog_row_metadata=FULL to ride over such changes", connector.ErrPositionLost,
				e.ColumnCount, len(t.cols), st.src.spec.Flow)
		}
	}
	st.mapColumns(e, named)
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
	commit := st.commitTS
	if commit.IsZero() {
		commit = time.Unix(int64(h.Timestamp), 0).UTC()
	}
	for i := 0; i+step <= len(e.Rows); i += step {
		first, err := st.row(e, i, op != change.OpInsert)
		if err != nil {
			return err
		}
		c := change.Change{Flow: st.src.spec.Flow, Op: op, Table: st.src.spec.Table, CommitTime: commit,
			TxID: st.txID, Position: st.txPos, Origin: st.origin}
		switch op {
		case change.OpInsert:
			c.After = first
		case change.OpDelete:
			c.Before = first
		case change.OpUpdate:
			c.Before = first
			if c.After, err = st.row(e, i+1, false); err != nil {
				return err
			}
			c.Columns = changedColumns(st.src.t, c.Before, c.After)
		}
		img := c.After
		if img == nil {
			img = c.Before
		}
		c.Key, _ = change.KeyOf(img, st.src.spec.Key)
		if st.idPre == "" {
			st.idPre = st.src.s.name + ":" + st.src.spec.Table + ":" + st.txID + ":"
		}
		c.ID = st.idPre + strconv.Itoa(st.txSeq)
		st.txSeq++
		st.pending = append(st.pending, c)
	}
	return nil
}

// matches reports whether the event can be decoded with the current
// description: every named column exists (extra ones are columns dropped
// since), or, without names, the column counts agree.
func (st *stream) matches(e *replication.RowsEvent, named bool) bool {
	t := st.src.t
	if !named {
		return int(e.ColumnCount) == len(t.cols)
	}
	found := 0
	for _, n := range e.Table.ColumnName {
		if _, ok := t.column(string(n)); ok {
			found++
		}
	}
	return found > 0
}

// mapColumns sets st.colIdx: for each column of the event, the index of the
// described column it holds, or -1 for a column the table no longer has.
func (st *stream) mapColumns(e *replication.RowsEvent, named bool) {
	t := st.src.t
	st.colIdx = st.colIdx[:0]
	for j := 0; j < int(e.ColumnCount); j++ {
		idx := j
		if named {
			idx = -1
			for i := range t.cols {
				if t.cols[i].Name == string(e.Table.ColumnName[j]) {
					idx = i
					break
				}
			}
		}
		st.colIdx = append(st.colIdx, idx)
	}
}

// row decodes image i of a rows event, by st.colIdx. A before image (of an
// update or delete) may hold a zero date: it is carried as an unknown value
// with the column's type (NULL under zero_dates: null, as the row was read)
// rather than failing, since the row is being fixed or deleted and its old
// value is never written anywhere.
func (st *stream) row(e *replication.RowsEvent, i int, before bool) (change.Row, error) {
	t := st.src.t
	if i < len(e.SkippedColumns) {
		for _, j := range e.SkippedColumns[i] {
			if j >= len(st.colIdx) || st.colIdx[j] < 0 {
				continue
			}
			if idx := st.colIdx[j]; !t.cols[idx].Generated && st.carry[idx] {
				return nil, fmt.Errorf("%w: column %q is missing from the row image: "+
					"run SET GLOBAL binlog_row_image = 'FULL' (and binlog_row_image=FULL in my.cnf)", errRowImage, t.cols[idx].Name)
			}
		}
	}
	raw := e.Rows[i]
	out := make(change.Row, len(t.cols))
	for j, idx := range st.colIdx {
		if idx < 0 || !st.carry[idx] || j >= len(raw) {
			continue
		}
		v, err := st.src.s.decode(&t.cols[idx], raw[j])
		if err != nil && errors.Is(err, errZeroDate) {
			switch {
			case before && st.src.s.zero.null:
				v, err = change.Null, nil // as the row was read
			case before:
				v, err = change.Unknown(fmt.Sprint(raw[j]), t.cols[idx].Type), nil
			default:
				v, err = st.src.s.zeroDate(err, st.src.spec.Table, func() string { return st.rawKey(raw) })
			}
		}
		if err != nil {
			return nil, err
		}
		out[t.cols[idx].Name] = v
	}
	return out, nil
}

// rawKey formats the key of a row image, for error messages.
func (st *stream) rawKey(raw []any) string {
	t := st.src.t
	k := make(change.Key, 0, len(st.src.spec.Key))
	for _, name := range st.src.spec.Key {
		for j, idx := range st.colIdx {
			if idx >= 0 && j < len(raw) && t.cols[idx].Name == name {
				v, err := st.src.s.decode(&t.cols[idx], raw[j])
				if err != nil {
					v = change.Unknown(fmt.Sprint(raw[j]), t.cols[idx].Type)
				}
				k = append(k, v)
			}
		}
	}
	return k.String()
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
