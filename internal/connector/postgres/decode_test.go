package postgres

import (
	"context"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// testCol is one column of a test tuple: kind 't' (text), 'n' or 'u'.
type testCol struct {
	kind byte
	text string
}

func appendTuple(b []byte, cols []testCol) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(cols)))
	for _, c := range cols {
		b = append(b, c.kind)
		if c.kind == 't' {
			b = binary.BigEndian.AppendUint32(b, uint32(len(c.text)))
			b = append(b, c.text...)
		}
	}
	return b
}

func rowMsg(kind byte, rel uint32, oldType byte, old []testCol, newCols []testCol) []byte {
	b := binary.BigEndian.AppendUint32([]byte{kind}, rel)
	if oldType != 0 {
		b = appendTuple(append(b, oldType), old)
	}
	if newCols != nil {
		b = appendTuple(append(b, 'N'), newCols)
	}
	return b
}

// tupleOf turns a parsed tuple back into what pglogrepl decodes.
func tupleOf(t *tuple) *pglogrepl.TupleData {
	out := &pglogrepl.TupleData{ColumnNum: uint16(len(t.cols))}
	for _, c := range t.cols {
		col := &pglogrepl.TupleDataColumn{DataType: c.kind}
		if c.kind == 't' || c.kind == 'b' {
			col.Length = uint32(c.end - c.start)
			col.Data = append([]byte{}, t.raw[c.start:c.end]...)
		}
		out.Columns = append(out.Columns, col)
	}
	return out
}

// TestParseRowMessage checks the in-place reader of row messages against
// pglogrepl's.
func TestParseRowMessage(t *testing.T) {
	full := []testCol{{'t', "1"}, {'n', ""}, {'u', ""}, {'t', ""}, {'t', "tab\there"}}
	key := []testCol{{'t', "1"}, {'n', ""}, {'n', ""}, {'n', ""}, {'n', ""}}
	msgs := [][]byte{
		rowMsg('I', 7, 0, nil, full),
		rowMsg('U', 7, 0, nil, full),
		rowMsg('U', 7, 'K', key, full),
		rowMsg('U', 7, 'O', full, full),
		rowMsg('D', 7, 'K', key, nil),
		rowMsg('D', 7, 'O', full, nil),
	}
	var oldT, newT tuple
	for _, m := range msgs {
		relID, op, oldType, err := parseRowMessage(m, &oldT, &newT)
		if err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		want, err := pglogrepl.Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		var got any
		switch op {
		case change.OpInsert:
			got = &pglogrepl.InsertMessage{RelationID: relID, Tuple: tupleOf(&newT)}
		case change.OpUpdate:
			u := &pglogrepl.UpdateMessage{RelationID: relID, OldTupleType: oldType, NewTuple: tupleOf(&newT)}
			if oldType != 0 {
				u.OldTuple = tupleOf(&oldT)
			}
			got = u
		case change.OpDelete:
			got = &pglogrepl.DeleteMessage{RelationID: relID, OldTupleType: oldType, OldTuple: tupleOf(&oldT)}
		}
		// Compare what pglogrepl exposes, not its unexported message type.
		wv, gv := reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem()
		for i := 0; i < wv.NumField(); i++ {
			if !wv.Type().Field(i).IsExported() || wv.Type().Field(i).Anonymous {
				continue
			}
			if !reflect.DeepEqual(wv.Field(i).Interface(), gv.Field(i).Interface()) {
				t.Errorf("%q: field %s: got %#v, pglogrepl %#v", m, wv.Type().Field(i).Name, gv.Field(i).Interface(), wv.Field(i).Interface())
			}
		}
	}
	// Truncated messages are errors, not panics.
	for _, m := range msgs {
		for n := 1; n < len(m); n++ {
			if _, _, _, err := parseRowMessage(m[:n], &oldT, &newT); err == nil {
				t.Errorf("%q cut to %d bytes: no error", m, n)
			}
		}
	}
}

func testDecoder(t testing.TB) *decoder {
	t.Helper()
	st := &Store{name: "s"}
	src := &LogicalSource{store: st, spec: connector.SourceSpec{Flow: "f", Table: "public.t"},
		tbl: &table{schema: "public", name: "t"}, key: []string{"id"}}
	d := newDecoder(st, src, 0)
	rel := &pglogrepl.RelationMessage{RelationID: 7, Namespace: "public", RelationName: "t", Columns: []*pglogrepl.RelationMessageColumn{
		{Flags: 1, Name: "id", DataType: 20}, {Name: "name", DataType: 25}, {Name: "amount", DataType: 1700},
		{Name: "at", DataType: 1184}, {Name: "ok", DataType: 16},
	}}
	if err := d.relation(context.Background(), rel); err != nil {
		t.Fatal(err)
	}
	return d
}

func beginMsg(lsn pglogrepl.LSN, xid uint32) []byte {
	b := binary.BigEndian.AppendUint64([]byte{'B'}, uint64(lsn))
	b = binary.BigEndian.AppendUint64(b, 0)
	return binary.BigEndian.AppendUint32(b, xid)
}

// TestDecodeRow checks the changes decoded from row messages, and that
// they keep nothing of the message buffer, which the connection reuses.
func TestDecodeRow(t *testing.T) {
	d := testDecoder(t)
	ctx := context.Background()
	var c change.Change
	if ev, err := d.handle(ctx, beginMsg(0x1000, 42), &c); err != nil || ev != evNone {
		t.Fatal(ev, err)
	}
	row := []testCol{{'t', "5"}, {'t', "héllo"}, {'t', "-012.50"}, {'t', "2024-01-02 03:04:05.123456+00"}, {'t', "t"}}
	type want struct {
		op     change.Op
		id     string
		before change.Row
		after  change.Row
		cols   []string
	}
	full := change.Row{"id": change.Int(5), "name": change.Text("héllo"), "amount": change.MustDecimal("-12.50"),
		"at": change.Timestamp(time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)), "ok": change.Bool(true)}
	cases := []struct {
		msg  []byte
		want want
	}{
		{rowMsg('I', 7, 0, nil, row), want{change.OpInsert, "s:0/1000:0", nil, full, []string{"id", "name", "amount", "at", "ok"}}},
		{rowMsg('U', 7, 0, nil, []testCol{{'t', "5"}, {'u', ""}, {'n', ""}, {'t', "2024-01-02 03:04:05.123456+00"}, {'t', "t"}}),
			want{change.OpUpdate, "s:0/1000:1", nil,
				change.Row{"id": change.Int(5), "amount": change.Null, "at": full["at"], "ok": change.Bool(true)}, []string{"id", "amount", "at", "ok"}}},
		{rowMsg('U', 7, 'K', []testCol{{'t', "4"}, {'n', ""}, {'n', ""}, {'n', ""}, {'n', ""}}, row),
			want{change.OpUpdate, "s:0/1000:2", change.Row{"id": change.Int(4)}, full, []string{"id", "name", "amount", "at", "ok"}}},
		{rowMsg('D', 7, 'K', []testCol{{'t', "5"}, {'n', ""}, {'n', ""}, {'n', ""}, {'n', ""}}, nil),
			want{change.OpDelete, "s:0/1000:3", change.Row{"id": change.Int(5)}, nil, nil}},
	}
	for _, tc := range cases {
		msg := append([]byte{}, tc.msg...)
		ev, err := d.handle(ctx, msg, &c)
		if err != nil || ev != evChange {
			t.Fatal(ev, err)
		}
		for i := range msg {
			msg[i] = 0xff // the connection reuses its buffer
		}
		w := tc.want
		if c.Op != w.op || c.ID != w.id || c.TxID != "42" || c.Flow != "f" || c.Table != "public.t" {
			t.Errorf("%s: got %+v", w.id, c)
		}
		if !reflect.DeepEqual(c.Before, w.before) || !reflect.DeepEqual(c.After, w.after) || !reflect.DeepEqual(c.Columns, w.cols) {
			t.Errorf("%s: got before %v after %v columns %v, want %v %v %v", w.id, c.Before, c.After, c.Columns, w.before, w.after, w.cols)
		}
		keyRow := w.after
		if keyRow == nil {
			keyRow = w.before
		}
		if wk, _ := change.KeyOf(keyRow, []string{"id"}); !reflect.DeepEqual(c.Key, wk) || cap(c.Key) != 1 {
			t.Errorf("%s: key %v (cap %d), want %v", w.id, c.Key, cap(c.Key), wk)
		}
	}
	if _, err := d.handle(ctx, rowMsg('I', 7, 0, nil, append(row, testCol{'t', "x"})), &c); err == nil ||
		!strings.Contains(err.Error(), "tuple has 6 columns") {
		t.Errorf("extra column: %v", err)
	}
	if _, err := d.handle(ctx, rowMsg('I', 7, 0, nil, row)[:9], &c); err == nil {
		t.Error("truncated message: no error")
	}
}

// BenchmarkDecodeInsert decodes insert messages of the benchmark table's
// shape.
func BenchmarkDecodeInsert(b *testing.B) {
	st := &Store{name: "s"}
	src := &LogicalSource{store: st, spec: connector.SourceSpec{Flow: "f", Table: "public.t"},
		tbl: &table{schema: "public", name: "t"}, key: []string{"id"}}
	d := newDecoder(st, src, 0)
	rel := &pglogrepl.RelationMessage{RelationID: 7, Namespace: "public", RelationName: "t", Columns: []*pglogrepl.RelationMessageColumn{
		{Flags: 1, Name: "id", DataType: 20}, {Name: "name", DataType: 25}, {Name: "email", DataType: 25},
		{Name: "city", DataType: 1042}, {Name: "amount", DataType: 1700}, {Name: "qty", DataType: 23},
		{Name: "score", DataType: 701}, {Name: "active", DataType: 16}, {Name: "note", DataType: 25},
		{Name: "created_at", DataType: 1184}, {Name: "updated_at", DataType: 1184},
	}}
	ctx := context.Background()
	if err := d.relation(ctx, rel); err != nil {
		b.Fatal(err)
	}
	var c change.Change
	if _, err := d.handle(ctx, beginMsg(0x1000, 42), &c); err != nil {
		b.Fatal(err)
	}
	msg := rowMsg('I', 7, 0, nil, []testCol{{'t', "123456"}, {'t', "name 123456"}, {'t', "u123456@example.com"},
		{'t', "NY"}, {'t', "234.56"}, {'t', "456"}, {'t', "17636.571428571428"}, {'t', "t"},
		{'t', "a longer note for row 123456"}, {'t', "2024-05-06 07:08:09.123456+00"}, {'t', "2024-05-06 07:08:09.123456+00"}})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := d.handle(ctx, msg, &c); err != nil {
			b.Fatal(err)
		}
	}
}
