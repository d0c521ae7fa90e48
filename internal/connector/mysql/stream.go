package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	gtid "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Stream timing: an idle Next returns an empty caught-up batch after
// idleWait; after a transaction boundary it waits at most linger for more
// events to put into the same batch.
const (
	idleWait = time.Second
	linger   = 2 * time.Millisecond
	// eventBuffer bounds the decoded events queued between the binlog
	// reader and Next: the reader blocks when it is full (backpressure).
	eventBuffer = 256
	// firstEventWait is how long Stream waits for the server to accept the
	// start position (an unknown or purged position is refused at once).
	firstEventWait = 10 * time.Second
)

// errNoEvent is returned by event when the wait ended without an event.
var errNoEvent = errors.New("no event")

// stream is an open binlog stream of one flow's table. It registers as a
// replica with the source's ServerID and reads every event of the server;
// rows of other tables are skipped, their commits only advance the position.
type stream struct {
	src      *binlogSource
	syncer   *replication.BinlogSyncer
	events   *replication.BinlogStreamer
	schema   []byte // the table's database and name as the binlog names them
	name     []byte
	carry    []bool // which columns of src.t are carried
	colIdx   []int  // for each column of the current rows event, its index in src.t.cols or -1
	gtidMode bool

	pos      Position // the last transaction boundary read
	posBytes change.Position
	file     string // current binlog file (file positions, change ids)

	inTx    bool
	emitted bool // changes of the open transaction were returned or queued
	txID    string
	txPos   change.Position // what the open transaction's changes carry (see txPosition)
	// commitTS is the open transaction's commit time in microseconds when
	// the binlog tells (MySQL 8's GTID event); zero otherwise, and changes
	// carry their row event's whole-second timestamp.
	commitTS time.Time
	txSeq    int
	idPre    string // "store:table:txID:", the change ids' prefix in the open transaction
	origin   string // the open transaction's origin, from its marker row
	// lateMarker: a marker arrived after rows of its transaction; Next
	// marks the ones it holds.
	lateMarker bool
	stale      bool // a DDL was seen: describe the table again before decoding
	pending    []change.Change
	peeked     *replication.BinlogEvent
	err        error // sticky: the stream is broken once it fails
	closeMu    sync.Mutex
	isClosed   bool
}

var _ connector.Stream = (*stream)(nil)

// openStream connects to the server as a replica and starts the binlog dump
// at p. It waits for the first event so that a position the server no
// longer has fails here, wrapping connector.ErrPositionLost.
func openStream(ctx context.Context, src *binlogSource, p Position) (*stream, error) {
	s := src.s
	if !p.GTID {
		if err := s.checkFileExists(ctx, p.File); err != nil {
			return nil, err
		}
	}
	cfg, err := s.syncerConfig(src.serverID)
	if err != nil {
		return nil, err
	}
	st := &stream{
		src: src, syncer: replication.NewBinlogSyncer(cfg), gtidMode: p.GTID,
		schema: []byte(src.t.schema), name: []byte(src.t.name), file: p.File,
	}
	st.setPos(p)
	st.setCarry()
	if p.GTID {
		var set gtid.GTIDSet
		if s.flavor == flavorMariaDB {
			set, err = gtid.ParseMariadbGTIDSet(p.Set)
		} else {
			set, err = gtid.ParseMysqlGTIDSet(p.Set)
		}
		if err == nil {
			st.events, err = st.syncer.StartSyncGTID(set)
		}
	} else {
		st.events, err = st.syncer.StartSync(gtid.Position{Name: p.File, Pos: p.Offset})
	}
	if err != nil {
		st.syncer.Close()
		return nil, binlogError(err)
	}
	ev, err := st.event(ctx, firstEventWait)
	switch {
	case err == nil:
		st.peeked = ev
	case errors.Is(err, errNoEvent):
	default:
		st.syncer.Close()
		return nil, err
	}
	return st, nil
}

// syncerConfig is the replica connection, from the store's DSN.
func (s *Store) syncerConfig(serverID uint32) (replication.BinlogSyncerConfig, error) {
	mc := s.cfg
	cfg := replication.BinlogSyncerConfig{
		ServerID: serverID, Flavor: gtid.MySQLFlavor,
		User: mc.User, Password: mc.Passwd, TLSConfig: mc.TLS,
		// DATETIME and TIMESTAMP values from 1970 on arrive as times
		// (decodeTime), not as text formatted by fmt and parsed back; zero
		// and older dates still arrive as text.
		ParseTime: true, TimestampStringLocation: time.UTC, UseDecimal: false,
		HeartbeatPeriod: 5 * time.Second, ReadTimeout: 30 * time.Second,
		// A broken connection ends the stream with an error; the engine
		// reopens it from the last checkpoint, which is simpler to reason
		// about than the library's resume from mid-transaction.
		DisableRetrySync: true,
		EventCacheCount:  eventBuffer,
		Logger:           slog.New(slog.DiscardHandler), // errors are returned, not logged
	}
	if s.flavor == flavorMariaDB {
		cfg.Flavor = gtid.MariaDBFlavor
	}
	netw, addr := mc.Net, mc.Addr
	if netw == "tcp" || netw == "" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return cfg, fmt.Errorf("binlog capture: address %q: %w", addr, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return cfg, fmt.Errorf("binlog capture: port %q: %w", port, err)
		}
		cfg.Host, cfg.Port = host, uint16(p)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	cfg.Dialer = func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, netw, addr) }
	return cfg, nil
}

// checkFileExists fails with ErrPositionLost when the binlog file of a file
// position was purged.
func (s *Store) checkFileExists(ctx context.Context, file string) error {
	rows, err := s.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil // no privilege to list them: the dump itself will tell
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		var name string
		vals[0] = &name
		for i := 1; i < len(vals); i++ {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			return err
		}
		if name == file {
			return nil
		}
	}
	return fmt.Errorf("%w: binlog file %s was purged", connector.ErrPositionLost, file)
}

// binlogError classifies an error of the binlog connection. Error 1236 for
// a start position the server no longer has (purged, or from a different
// history) means the position is lost.
func binlogError(err error) error {
	var me *gtid.MyError
	if errors.As(err, &me) && me.Code == gtid.ER_MASTER_FATAL_ERROR_READING_BINLOG {
		msg := strings.ToLower(me.Message)
		for _, hint := range []string{"purged", "could not find", "not in the master's binlog", "too old", "first log file"} {
			if strings.Contains(msg, hint) {
				return fmt.Errorf("%w: %s", connector.ErrPositionLost, strings.TrimRight(me.Message, ". "))
			}
		}
	}
	return fmt.Errorf("read binlog: %w", err)
}

func (st *stream) setPos(p Position) {
	st.pos, st.posBytes = p, p.Bytes()
}

// setCarry computes which columns changes carry: the spec's (all when
// empty) plus the key.
func (st *stream) setCarry() {
	t, spec := st.src.t, st.src.spec
	st.carry = make([]bool, len(t.cols))
	keep := map[string]bool{}
	for _, c := range append(append([]string{}, spec.Columns...), spec.Key...) {
		keep[c] = true
	}
	for i, c := range t.cols {
		st.carry[i] = len(spec.Columns) == 0 || keep[c.Name]
	}
}

// event returns the next binlog event, waiting at most wait (errNoEvent).
func (st *stream) event(ctx context.Context, wait time.Duration) (*replication.BinlogEvent, error) {
	if ev := st.peeked; ev != nil {
		st.peeked = nil
		return ev, nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ev, err := st.events.GetEvent(wctx)
	if err == nil {
		return ev, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if wctx.Err() != nil {
		return nil, errNoEvent
	}
	st.err = binlogError(err)
	return nil, st.err
}

// Next returns up to max changes of the flow's table in commit order. A
// batch carries a Position only when it ends on a transaction boundary;
// batches are cut at the last boundary they pass when the next transaction
// does not fit. Idle, it returns an empty caught-up batch after idleWait.
func (st *stream) Next(ctx context.Context, max int) (connector.Batch, error) {
	if st.closed() {
		return connector.Batch{}, errors.New("next: stream is closed")
	}
	if max <= 0 {
		return connector.Batch{}, fmt.Errorf("next: max must be positive, got %d", max)
	}
	if st.err != nil {
		return connector.Batch{}, st.err
	}
	var (
		out    []change.Change
		cut    = -1 // len(out) at the last boundary passed by this batch
		cutPos change.Position
		tried  bool // a full batch already looked for its closing commit
	)
	deadline := time.Now().Add(idleWait)
	for {
		n := min(max-len(out), len(st.pending))
		if out == nil && n > 0 {
			out = make([]change.Change, 0, max) // one allocation per batch, not a growing copy
		}
		out = append(out, st.pending[:n]...)
		if n == len(st.pending) {
			// Everything was copied out: reuse the buffer for the next
			// rows events instead of growing a new one.
			clear(st.pending)
			st.pending = st.pending[:0]
		} else {
			st.pending = st.pending[n:]
		}
		if len(out) == max && (len(st.pending) > 0 || (st.inTx && tried)) {
			if cut >= 0 { // hand the open transaction's changes to the next call
				st.pending = append(append([]change.Change(nil), out[cut:]...), st.pending...)
				return connector.Batch{Changes: out[:cut], Position: cutPos}, nil
			}
			st.emitted = true
			return connector.Batch{Changes: out}, nil
		}
		if len(out) == max && !st.inTx {
			return connector.Batch{Changes: out, Position: st.posBytes}, nil
		}
		wait := time.Until(deadline)
		switch {
		case len(out) == max:
			wait, tried = linger, true // only the commit of the open transaction may still fit
		case cut >= 0 && !st.inTx:
			wait = min(wait, linger)
		}
		if wait <= 0 {
			return st.flush(out, cut, cutPos, false), nil
		}
		ev, err := st.event(ctx, wait)
		if errors.Is(err, errNoEvent) {
			return st.flush(out, cut, cutPos, !st.inTx && len(st.pending) == 0), nil
		}
		if err != nil {
			return connector.Batch{}, err
		}
		boundary, err := st.handle(ctx, ev)
		if err != nil {
			st.err = err
			return connector.Batch{}, err
		}
		if st.lateMarker {
			st.lateMarker = false
			markTail(out, st.txID, st.origin)
		}
		if boundary && (len(out) > 0 || st.emitted) {
			st.emitted = false
			cut, cutPos = len(out), st.posBytes
			if len(out) == max {
				return connector.Batch{Changes: out, Position: st.posBytes}, nil
			}
		}
	}
}

// flush ends a batch that stopped waiting: at the current position when no
// transaction is open, else cut at its last boundary or without a position.
func (st *stream) flush(out []change.Change, cut int, cutPos change.Position, caughtUp bool) connector.Batch {
	if !st.inTx {
		return connector.Batch{Changes: out, Position: st.posBytes, CaughtUp: caughtUp}
	}
	if cut >= 0 {
		st.pending = append(append([]change.Change(nil), out[cut:]...), st.pending...)
		return connector.Batch{Changes: out[:cut], Position: cutPos}
	}
	if len(out) > 0 {
		st.emitted = true
	}
	return connector.Batch{Changes: out}
}

// handle applies one event; it reports whether a transaction ended.
func (st *stream) handle(ctx context.Context, ev *replication.BinlogEvent) (bool, error) {
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		st.file = string(e.NextLogName)
		if !st.gtidMode && !st.inTx {
			st.setPos(Position{File: st.file, Offset: uint32(e.Position)})
		}
	case *replication.MariadbGTIDEvent:
		st.begin(e.GTID.String())
	case *replication.GTIDEvent:
		st.begin(fmt.Sprintf("%x-%x-%x-%x-%x:%d", e.SID[0:4], e.SID[4:6], e.SID[6:8], e.SID[8:10], e.SID[10:16], e.GNO))
		st.commitTS = gtidCommitTime(e)
	case *replication.QueryEvent:
		q := bytes.TrimSpace(e.Query)
		if bytes.EqualFold(q, []byte("BEGIN")) {
			if !st.inTx { // file positions without GTIDs: BEGIN opens the transaction
				st.begin(st.file + ":" + strconv.FormatUint(uint64(ev.Header.LogPos), 10))
			}
			return false, nil
		}
		if !bytes.EqualFold(q, []byte("COMMIT")) {
			st.stale = true // DDL: the table may have changed shape
		}
		return st.commit(e.GSet, ev.Header.LogPos), nil
	case *replication.XIDEvent:
		return st.commit(e.GSet, ev.Header.LogPos), nil
	case *replication.RowsEvent:
		if e.Table != nil && bytes.Equal(e.Table.Table, []byte(markerTable)) {
			st.marked(e)
			return false, nil
		}
		if e.Table == nil || !bytes.Equal(e.Table.Schema, st.schema) || !bytes.Equal(e.Table.Table, st.name) {
			return false, nil
		}
		if err := st.rows(ctx, e, ev.Header); err != nil {
			return false, fmt.Errorf("decode binlog rows of %q at %s:%d: %w", st.src.spec.Table, st.file, ev.Header.LogPos, err)
		}
	case *replication.TransactionPayloadEvent:
		boundary := false
		for _, inner := range e.Events {
			b, err := st.handle(ctx, inner)
			if err != nil {
				return false, err
			}
			boundary = boundary || b
		}
		return boundary, nil
	}
	return false, nil
}

func (st *stream) begin(txID string) {
	st.inTx, st.txID, st.txSeq, st.origin, st.idPre = true, txID, 0, "", ""
	st.txPos = txPosition(st.pos, st.gtidMode, txID)
	st.commitTS = time.Time{}
}

// marked records the origin of the open transaction from a row event of a
// sink's marker table (in any database: the origin belongs to the
// transaction). Sinks write the marker first, so it normally precedes the
// transaction's rows; in case it does not, changes of the transaction not
// yet returned by Next are marked too (lateMarker: those Next holds).
func (st *stream) marked(e *replication.RowsEvent) {
	if len(e.Rows) == 0 || len(e.Rows[len(e.Rows)-1]) == 0 {
		return
	}
	var flow string
	switch v := e.Rows[len(e.Rows)-1][0].(type) {
	case string:
		flow = v
	case []byte:
		flow = string(v)
	default:
		return
	}
	if st.origin == "" {
		st.origin = OriginName(flow)
		st.lateMarker = st.txSeq > 0
		markTail(st.pending, st.txID, st.origin)
	}
}

// markTail sets the origin of the trailing changes of transaction txID.
func markTail(cs []change.Change, txID, origin string) {
	for i := len(cs) - 1; i >= 0 && cs[i].TxID == txID; i-- {
		cs[i].Origin = origin
	}
}

// commit records a transaction boundary: the GTID set after it, or the
// offset just past its commit event.
func (st *stream) commit(set gtid.GTIDSet, logPos uint32) bool {
	switch {
	case st.gtidMode && set != nil:
		st.setPos(Position{GTID: true, Set: set.String()})
	case !st.gtidMode && logPos > 0:
		st.setPos(Position{File: st.file, Offset: logPos})
	}
	st.inTx, st.origin = false, ""
	return true
}

// Ack does nothing: a MySQL server keeps its binlog by age
// (binlog_expire_logs_seconds), not by what replicas confirmed.
func (st *stream) Ack(context.Context, change.Position) error { return nil }

// Close stops the binlog connection and waits for its reader to exit.
func (st *stream) Close() error {
	st.closeMu.Lock()
	defer st.closeMu.Unlock()
	if st.isClosed {
		return nil
	}
	st.isClosed = true
	st.syncer.Close()
	return nil
}

func (st *stream) closed() bool {
	st.closeMu.Lock()
	defer st.closeMu.Unlock()
	return st.isClosed
}

// gtidCommitTime is the commit time a MySQL 8.0.1+ GTID event carries, in
// microseconds, on the server where the transaction first committed (the
// time lww compares across replicas); zero when the event has none.
func gtidCommitTime(e *replication.GTIDEvent) time.Time {
	us := e.OriginalCommitTimestamp
	if us == 0 {
		us = e.ImmediateCommitTimestamp
	}
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(int64(us)).UTC()
}
