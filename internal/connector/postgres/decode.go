package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/syncbridge/syncbridge/internal/change"
)

// event is what one pgoutput message means to the stream.
type event int

const (
	evNone   event = iota + 1 // nothing to pass on (relation, begin, other tables)
	evChange                  // a row change of the flow's table
	evCommit                  // the end of a transaction
)

// relation is a table as pgoutput described it in a Relation message.
type relation struct {
	wanted bool // the flow's table
	cols   []relColumn
	// names are the carried columns in table order: the Columns of every
	// change whose tuple has them all, shared (read-only) by those changes.
	names []string
}

type relColumn struct {
	name    string
	typ     *pgType
	ident   bool // part of the replica identity: sent in 'K' old tuples
	carried bool // a flow column or a key column
}

// decoder turns pgoutput messages into changes. It keeps the relations seen
// and the state of the transaction being decoded; it is used by the
// stream's reader goroutine only.
type decoder struct {
	store *Store
	src   *LogicalSource
	from  pglogrepl.LSN // transactions committed at or before it are skipped
	rels  map[uint32]*relation

	inTx       bool
	skip       bool
	xid        string
	commitLSN  pglogrepl.LSN // from Begin: the LSN of the commit record
	commitEnd  pglogrepl.LSN // from Commit: the end of the commit record
	commitTime time.Time
	origin     string
	index      int // of the next change in the transaction
	// idPrefix ("<store>:<commit LSN>:") and pos are the same for every
	// change of the transaction: made once at Begin, shared by its changes.
	idPrefix string
	pos      change.Position

	truncates atomic.Int64 // TRUNCATEs of the flow's table seen
}

func newDecoder(s *Store, src *LogicalSource, from pglogrepl.LSN) *decoder {
	return &decoder{store: s, src: src, from: from, rels: map[uint32]*relation{}}
}

// handle decodes one pgoutput message. For evChange it fills c.
func (d *decoder) handle(ctx context.Context, data []byte, c *change.Change) (event, error) {
	if len(data) == 0 {
		return evNone, nil
	}
	if data[0] == 'O' { // Origin: pglogrepl does not decode its body
		d.origin = decodeOrigin(data[1:])
		return evNone, nil
	}
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return 0, fmt.Errorf("decode pgoutput message %q: %w", data[0], err)
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		return evNone, d.relation(ctx, m)
	case *pglogrepl.BeginMessage:
		d.inTx, d.index, d.origin = true, 0, ""
		d.commitLSN, d.commitTime = m.FinalLSN, m.CommitTime
		d.xid = strconv.FormatUint(uint64(m.Xid), 10)
		d.skip = m.FinalLSN <= d.from
		d.idPrefix = d.store.name + ":" + m.FinalLSN.String() + ":"
		d.pos = Position{LSN: m.FinalLSN}.Bytes()
		return evNone, nil
	case *pglogrepl.CommitMessage:
		d.inTx = false
		d.commitLSN, d.commitEnd = m.CommitLSN, m.TransactionEndLSN
		if d.skip {
			return evNone, nil
		}
		return evCommit, nil
	case *pglogrepl.InsertMessage:
		return d.row(m.RelationID, change.OpInsert, 0, nil, m.Tuple, c)
	case *pglogrepl.UpdateMessage:
		return d.row(m.RelationID, change.OpUpdate, m.OldTupleType, m.OldTuple, m.NewTuple, c)
	case *pglogrepl.DeleteMessage:
		return d.row(m.RelationID, change.OpDelete, m.OldTupleType, m.OldTuple, nil, c)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			if r := d.rels[id]; r != nil && r.wanted && !d.skip {
				d.truncates.Add(1)
				*c = change.Change{
					ID:         d.idPrefix + strconv.Itoa(d.index),
					Flow:       d.src.spec.Flow,
					Op:         change.OpTruncate,
					Table:      d.src.spec.Table,
					CommitTime: d.commitTime,
					TxID:       d.xid,
					Position:   d.pos,
					Origin:     d.origin,
				}
				d.index++
				return evChange, nil
			}
		}
	}
	return evNone, nil
}

func (d *decoder) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	r := &relation{wanted: m.Namespace == d.src.tbl.schema && m.RelationName == d.src.tbl.name}
	if r.wanted {
		for _, c := range m.Columns {
			t, err := d.store.typeOf(ctx, c.DataType)
			if err != nil {
				return err
			}
			r.cols = append(r.cols, relColumn{
				name:    c.Name,
				typ:     t,
				ident:   c.Flags&1 != 0,
				carried: len(d.src.cols) == 0 || contains(d.src.cols, c.Name) || contains(d.src.key, c.Name),
			})
			if rc := r.cols[len(r.cols)-1]; rc.carried {
				r.names = append(r.names, rc.name)
			}
		}
	}
	d.rels[m.RelationID] = r
	return nil
}

// row fills c from an Insert, Update or Delete of the flow's table.
func (d *decoder) row(relID uint32, op change.Op, oldType uint8, oldTuple, newTuple *pglogrepl.TupleData, c *change.Change) (event, error) {
	r := d.rels[relID]
	if r == nil {
		return 0, fmt.Errorf("pgoutput change for relation %d before its Relation message", relID)
	}
	if !r.wanted || d.skip {
		return evNone, nil
	}
	*c = change.Change{
		ID:         d.idPrefix + strconv.Itoa(d.index),
		Flow:       d.src.spec.Flow,
		Op:         op,
		Table:      d.src.spec.Table,
		CommitTime: d.commitTime,
		TxID:       d.xid,
		Position:   d.pos,
		Origin:     d.origin,
	}
	d.index++
	var err error
	if oldTuple != nil {
		// 'K' carries the replica identity columns only; the others are
		// sent as NULL and must not be read as values.
		if c.Before, _, err = r.decodeTuple(oldTuple, oldType == pglogrepl.UpdateMessageTupleTypeKey); err != nil {
			return 0, err
		}
	}
	keyRow := c.Before
	if newTuple != nil {
		if c.After, c.Columns, err = r.decodeTuple(newTuple, false); err != nil {
			return 0, err
		}
		keyRow = c.After
	}
	key, ok := change.KeyOf(keyRow, d.src.key)
	if !ok {
		return 0, fmt.Errorf("%s of %s at %s lacks a key column of %v: give the table a primary key on the flow's key or set REPLICA IDENTITY FULL",
			op, d.src.tbl.qualified(), d.commitLSN, d.src.key)
	}
	c.Key = key
	return evChange, nil
}

// decodeTuple returns a tuple's carried columns and their names in table
// order. TOAST-unchanged columns ('u': the value did not change and was not
// sent) are left out, so that a sink updates only the columns present.
func (r *relation) decodeTuple(t *pglogrepl.TupleData, identOnly bool) (change.Row, []string, error) {
	row := make(change.Row, len(r.names))
	var names []string // nil while every carried column so far is present
	n := 0             // carried columns seen so far
	for i, tc := range t.Columns {
		if i >= len(r.cols) {
			return nil, nil, fmt.Errorf("tuple has %d columns, relation %d", len(t.Columns), len(r.cols))
		}
		rc := &r.cols[i]
		if !rc.carried {
			continue
		}
		if identOnly && !rc.ident || tc.DataType == pglogrepl.TupleDataTypeToast {
			if names == nil {
				names = append(make([]string, 0, len(r.names)), r.names[:n]...)
			}
			n++
			continue
		}
		switch tc.DataType {
		case pglogrepl.TupleDataTypeNull:
			row[rc.name] = change.Null
		case pglogrepl.TupleDataTypeText:
			v, err := decodeTextBytes(rc.typ, tc.Data)
			if err != nil {
				return nil, nil, fmt.Errorf("column %q: %w", rc.name, err)
			}
			row[rc.name] = v
		default:
			return nil, nil, fmt.Errorf("column %q: unexpected tuple data type %q", rc.name, tc.DataType)
		}
		if names != nil {
			names = append(names, rc.name)
		}
		n++
	}
	if names == nil && n == len(r.names) {
		return row, r.names, nil
	}
	if names == nil {
		names = append([]string(nil), r.names[:n]...)
	}
	return row, names, nil
}

// decodeOrigin reads an Origin message body: the origin's commit LSN, then
// its name as a C string.
func decodeOrigin(b []byte) string {
	if len(b) < 9 {
		return ""
	}
	_ = binary.BigEndian.Uint64(b) // commit LSN on the origin server
	name, _, _ := bytes.Cut(b[8:], []byte{0})
	return string(name)
}
