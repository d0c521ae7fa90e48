package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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

	// Scratch reused from message to message: the tuples of the message
	// being decoded (their data point into the message, which the
	// connection reuses: nothing handed out may keep them), the bytes of
	// change IDs, and a slab the changes' keys are cut from.
	oldTuple, newTuple tuple
	idBuf              []byte
	keySlab            []change.Value

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
	switch data[0] {
	case 'O': // Origin: pglogrepl does not decode its body
		d.origin = decodeOrigin(data[1:])
		return evNone, nil
	case 'I', 'U', 'D':
		// Row changes are read in place (see parseRowMessage): pglogrepl
		// would copy every column into allocations of its own.
		return d.rowMessage(data, c)
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
		d.idBuf = append(d.idBuf[:0], d.idPrefix...)
		d.pos = Position{LSN: m.FinalLSN}.Bytes()
		return evNone, nil
	case *pglogrepl.CommitMessage:
		d.inTx = false
		d.commitLSN, d.commitEnd = m.CommitLSN, m.TransactionEndLSN
		if d.skip {
			return evNone, nil
		}
		return evCommit, nil
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

// rowMessage decodes an Insert, Update or Delete message.
func (d *decoder) rowMessage(data []byte, c *change.Change) (event, error) {
	relID, op, oldType, err := parseRowMessage(data, &d.oldTuple, &d.newTuple)
	if err != nil {
		return 0, fmt.Errorf("decode pgoutput message %q: %w", data[0], err)
	}
	var oldT, newT *tuple
	if oldType != 0 {
		oldT = &d.oldTuple
	}
	if op != change.OpDelete {
		newT = &d.newTuple
	}
	return d.row(relID, op, oldType, oldT, newT, c)
}

// row fills c from an Insert, Update or Delete of the flow's table.
func (d *decoder) row(relID uint32, op change.Op, oldType uint8, oldTuple, newTuple *tuple, c *change.Change) (event, error) {
	r := d.rels[relID]
	if r == nil {
		return 0, fmt.Errorf("pgoutput change for relation %d before its Relation message", relID)
	}
	if !r.wanted || d.skip {
		return evNone, nil
	}
	*c = change.Change{
		ID:         d.changeID(),
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
	key, ok := d.keyOf(keyRow)
	if !ok {
		return 0, fmt.Errorf("%s of %s at %s lacks a key column of %v: give the table a primary key on the flow's key or set REPLICA IDENTITY FULL",
			op, d.src.tbl.qualified(), d.commitLSN, d.src.key)
	}
	c.Key = key
	return evChange, nil
}

// changeID is idPrefix followed by the change's index, in one allocation.
func (d *decoder) changeID() string {
	d.idBuf = strconv.AppendInt(d.idBuf[:len(d.idPrefix)], int64(d.index), 10)
	return string(d.idBuf)
}

// keySlabChanges is how many changes' keys one slab allocation holds.
const keySlabChanges = 256

// keyOf is change.KeyOf with the flow's key columns, the key cut from a
// slab shared by consecutive changes (with its capacity capped, so that
// appending to one key cannot touch the next).
func (d *decoder) keyOf(row change.Row) (change.Key, bool) {
	n := len(d.src.key)
	if n == 0 {
		return change.KeyOf(row, d.src.key)
	}
	if len(d.keySlab) < n {
		d.keySlab = make([]change.Value, n*keySlabChanges)
	}
	k := change.Key(d.keySlab[:n:n])
	for i, col := range d.src.key {
		v, ok := row[col]
		if !ok {
			clear(k[:i])
			return nil, false
		}
		k[i] = v
	}
	d.keySlab = d.keySlab[n:]
	return k, true
}

// decodeTuple returns a tuple's carried columns and their names in table
// order. TOAST-unchanged columns ('u': the value did not change and was not
// sent) are left out, so that a sink updates only the columns present.
//
// The tuple's data points into a buffer the connection reuses. Values kept
// as text share one string copied from the tuple (one allocation per row,
// not one per column); the others are parsed from the bytes.
func (r *relation) decodeTuple(t *tuple, identOnly bool) (change.Row, []string, error) {
	if len(t.cols) > len(r.cols) {
		return nil, nil, fmt.Errorf("tuple has %d columns, relation %d", len(t.cols), len(r.cols))
	}
	row := make(change.Row, len(r.names))
	var names []string // nil while every carried column so far is present
	n := 0             // carried columns seen so far
	var text string    // t.raw as a string, made on first need
	for i := range t.cols {
		tc := &t.cols[i]
		rc := &r.cols[i]
		if !rc.carried {
			continue
		}
		if identOnly && !rc.ident || tc.kind == pglogrepl.TupleDataTypeToast {
			if names == nil {
				names = append(make([]string, 0, len(r.names)), r.names[:n]...)
			}
			n++
			continue
		}
		switch tc.kind {
		case pglogrepl.TupleDataTypeNull:
			row[rc.name] = change.Null
		case pglogrepl.TupleDataTypeText:
			b := t.raw[tc.start:tc.end]
			var (
				v   change.Value
				err error
			)
			if textKept(rc.typ.kind) {
				if text == "" {
					text = string(t.raw)
				}
				v, err = decodeText(rc.typ, text[tc.start:tc.end])
			} else {
				v, err = decodeTextBytes(rc.typ, b)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("column %q: %w", rc.name, err)
			}
			row[rc.name] = v
		default:
			return nil, nil, fmt.Errorf("column %q: unexpected tuple data type %q", rc.name, tc.kind)
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

// textKept reports whether values of kind keep their text (so that
// decoding them from bytes costs a string anyway): see decodeTextBytes.
func textKept(k change.Kind) bool {
	switch k {
	case change.KindInt, change.KindFloat, change.KindBool, change.KindTimestamp, change.KindDate:
		return false
	}
	return true
}

// tuple is a pgoutput TupleData read in place: raw is the tuple's bytes
// (within the message), each column's data is raw[start:end].
type tuple struct {
	raw  []byte
	cols []tupleCol
}

type tupleCol struct {
	kind       byte // pglogrepl.TupleDataType*
	start, end int
}

// parseRowMessage reads an Insert ('I'), Update ('U') or Delete ('D')
// message of protocol version 1 into the tuples given, reusing their
// column slices; their data stays in msg. oldType is 'K' or 'O' when the
// message has an old tuple (into oldT), 0 otherwise; the new tuple (of
// inserts and updates) goes into newT.
func parseRowMessage(msg []byte, oldT, newT *tuple) (relID uint32, op change.Op, oldType uint8, err error) {
	if len(msg) < 6 {
		return 0, 0, 0, fmt.Errorf("message of %d bytes is too short", len(msg))
	}
	relID = binary.BigEndian.Uint32(msg[1:5])
	b := msg[5:]
	next := b[0]
	b = b[1:]
	switch msg[0] {
	case 'I':
		op = change.OpInsert
		if next != 'N' {
			return 0, 0, 0, fmt.Errorf("insert: tuple type %q, want 'N'", next)
		}
	case 'U':
		op = change.OpUpdate
		if next == 'K' || next == 'O' {
			oldType = next
			if b, err = parseTuple(b, oldT); err != nil {
				return 0, 0, 0, fmt.Errorf("update: old tuple: %w", err)
			}
			if len(b) == 0 {
				return 0, 0, 0, errors.New("update: no new tuple")
			}
			next, b = b[0], b[1:]
		}
		if next != 'N' {
			return 0, 0, 0, fmt.Errorf("update: tuple type %q, want 'N'", next)
		}
	case 'D':
		op = change.OpDelete
		if next != 'K' && next != 'O' {
			return 0, 0, 0, fmt.Errorf("delete: tuple type %q, want 'K' or 'O'", next)
		}
		oldType = next
		if _, err = parseTuple(b, oldT); err != nil {
			return 0, 0, 0, fmt.Errorf("delete: old tuple: %w", err)
		}
		return relID, op, oldType, nil
	default:
		return 0, 0, 0, fmt.Errorf("not a row message")
	}
	if _, err = parseTuple(b, newT); err != nil {
		return 0, 0, 0, fmt.Errorf("new tuple: %w", err)
	}
	return relID, op, oldType, nil
}

// parseTuple reads a TupleData from the start of b into t and returns the
// bytes after it.
func parseTuple(b []byte, t *tuple) ([]byte, error) {
	if len(b) < 2 {
		return nil, errors.New("truncated column count")
	}
	n := int(binary.BigEndian.Uint16(b))
	t.raw = b
	t.cols = t.cols[:0]
	off := 2
	for i := 0; i < n; i++ {
		if off >= len(b) {
			return nil, fmt.Errorf("truncated at column %d of %d", i+1, n)
		}
		col := tupleCol{kind: b[off]}
		off++
		switch col.kind {
		case pglogrepl.TupleDataTypeText, pglogrepl.TupleDataTypeBinary:
			if len(b)-off < 4 {
				return nil, fmt.Errorf("truncated length of column %d", i+1)
			}
			size := int(binary.BigEndian.Uint32(b[off:]))
			off += 4
			if size < 0 || size > len(b)-off {
				return nil, fmt.Errorf("column %d: %d bytes, %d left", i+1, size, len(b)-off)
			}
			col.start, col.end = off, off+size
			off += size
		}
		t.cols = append(t.cols, col)
	}
	t.raw = b[:off]
	return b[off:], nil
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
