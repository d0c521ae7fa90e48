package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/syncbridge/syncbridge/internal/change"
)

// Timings of the replication connection.
const (
	// statusInterval is how often a standby status update is sent even when
	// nothing changed; well under the server's wal_sender_timeout (60s).
	statusInterval = 10 * time.Second
	// readWindow bounds one wait for server data, so that acks, status
	// updates and partial chunks are handled while the stream is quiet.
	readWindow = 200 * time.Millisecond
	// heartbeatAfter is how long the stream must be quiet before the reader
	// asks the server for a keepalive, whose WAL position lets an idle
	// stream report progress (see item.heartbeat).
	heartbeatAfter = time.Second
	// chunkSize is the most changes passed from the reader to Next at once.
	chunkSize = 256
	// itemBuffer is how many chunks the reader may be ahead of Next: with
	// chunkSize it bounds the memory a large transaction can take.
	itemBuffer = 8
)

// item is what the reader passes to Next, in stream order.
type item struct {
	changes []change.Change
	// commit, when set, ends the transaction the changes belong to: it is
	// the LSN of its commit record, and end the LSN just past that record.
	commit, end pglogrepl.LSN
	// heartbeat, when set, is the server's WAL position from a keepalive
	// received outside any transaction: every transaction whose commit
	// record starts before it has been delivered.
	heartbeat pglogrepl.LSN
	err       error
}

// reader owns the replication connection. It decodes pgoutput messages into
// chunks of changes for Next and reports the acknowledged position to the
// server. It runs in its own goroutine, owned by the stream.
type reader struct {
	conn  *pgconn.PgConn
	dec   *decoder
	items chan item

	acked   atomic.Uint64 // highest LSN acknowledged by the engine
	ackWake chan struct{} // signalled by ack, capacity 1
	wake    atomic.Pointer[context.CancelFunc]
	idle    atomic.Bool // the last read window passed without data, outside a transaction
	ping    atomic.Bool // Next wants a keepalive now (see requestKeepalive)

	// Owned by the reader goroutine.
	received     pglogrepl.LSN // WAL start of the last data message
	sentFlush    pglogrepl.LSN
	lastStatus   time.Time
	lastData     time.Time
	lastRequest  time.Time
	heartbeat    pglogrepl.LSN
	pushedCommit pglogrepl.LSN // commit LSN of the last transaction handed to Next
	idleEnd      pglogrepl.LSN // WAL end of the last keepalive received between transactions
	pings        pingCount
	pending      []change.Change // decoded, not yet handed over
	dataInWindow bool            // data arrived during the current read window
}

// pingCount counts keepalives that ask for a reply at one WAL end.
type pingCount struct {
	walEnd pglogrepl.LSN
	n      int
	since  time.Time
}

// A server that is shutting down sends keepalives asking for a reply over
// and over until the client confirms the end of its WAL (in normal operation
// it asks once per wal_sender_timeout/2). pingLimit such requests within
// pingWindow while the stream cannot confirm mean the server waits on
// changes not yet applied: the reader then closes the stream rather than
// block the shutdown, and the stream resumes from the acknowledged position.
const (
	pingLimit  = 20
	pingWindow = 5 * time.Second
)

func newReader(conn *pgconn.PgConn, dec *decoder, acked pglogrepl.LSN) *reader {
	r := &reader{
		conn:    conn,
		dec:     dec,
		items:   make(chan item, itemBuffer),
		ackWake: make(chan struct{}, 1),
	}
	r.acked.Store(uint64(acked))
	return r
}

// ack records that everything up to lsn is durably applied and wakes the
// reader so that it tells the server promptly.
func (r *reader) ack(lsn pglogrepl.LSN) {
	for {
		cur := r.acked.Load()
		if uint64(lsn) <= cur || r.acked.CompareAndSwap(cur, uint64(lsn)) {
			break
		}
	}
	select {
	case r.ackWake <- struct{}{}:
	default:
	}
	if c := r.wake.Load(); c != nil {
		(*c)()
	}
}

// requestKeepalive asks the reader to have the server send a keepalive at
// once: its WAL end tells Next how far the server has read, so a caught-up
// stream can say so without waiting for the server's own keepalives.
func (r *reader) requestKeepalive() {
	r.ping.Store(true)
	if c := r.wake.Load(); c != nil {
		(*c)()
	}
}

// run reads the stream until ctx is done or the connection fails; a failure
// is passed to Next as the last item. It closes the connection and the item
// channel on return.
func (r *reader) run(ctx context.Context) {
	defer close(r.items)
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = r.conn.Close(closeCtx)
	}()
	if err := r.loop(ctx); err != nil && ctx.Err() == nil {
		select {
		case r.items <- item{err: err}:
		case <-ctx.Done():
		}
	}
}

func (r *reader) loop(ctx context.Context) error {
	r.lastData = time.Now()
	r.pending = make([]change.Change, 0, chunkSize)
	var (
		window context.Context
		cancel context.CancelFunc
	)
	defer func() {
		if cancel != nil {
			cancel()
		}
	}()
	for {
		if err := r.maybeSendStatus(ctx, false); err != nil {
			return err
		}
		if window == nil {
			window, cancel = context.WithTimeout(ctx, readWindow)
			wake := cancel
			r.wake.Store(&wake)
			r.dataInWindow = false
		}
		msg, err := r.conn.ReceiveMessage(window)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if window.Err() == nil {
				return fmt.Errorf("receive replication message: %w", err)
			}
			cancel()
			window, cancel = nil, nil
			if err := r.windowEnded(ctx); err != nil {
				return err
			}
			continue
		}
		if err := r.message(ctx, msg); err != nil {
			return err
		}
	}
}

// windowEnded runs when a read window passes (or an ack cuts it short): it
// hands over what is decoded so far, and asks for a keepalive when quiet.
func (r *reader) windowEnded(ctx context.Context) error {
	if len(r.pending) > 0 {
		if err := r.push(ctx, item{changes: r.handOver()}); err != nil {
			return err
		}
	}
	quiet := !r.dec.inTx && !r.dataInWindow
	r.idle.Store(quiet)
	if quiet && time.Since(r.lastData) >= heartbeatAfter && time.Since(r.lastRequest) >= heartbeatAfter {
		r.lastRequest = time.Now()
		return r.maybeSendStatus(ctx, true)
	}
	return nil
}

// message handles one message from the server.
func (r *reader) message(ctx context.Context, msg pgproto3.BackendMessage) error {
	switch m := msg.(type) {
	case *pgproto3.ErrorResponse:
		return pgconn.ErrorResponseToPgError(m)
	case *pgproto3.CopyDone:
		return errors.New("server ended the replication stream")
	case *pgproto3.CopyData:
		if len(m.Data) == 0 {
			return nil
		}
		switch m.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
			if err != nil {
				return err
			}
			return r.keepalive(ctx, pkm)
		case pglogrepl.XLogDataByteID:
			xld, err := pglogrepl.ParseXLogData(m.Data[1:])
			if err != nil {
				return err
			}
			return r.xlogData(ctx, xld)
		}
	}
	return nil
}

// keepalive answers the server when asked, and between transactions notes
// its WAL end: for the flush position and as a heartbeat for Next.
func (r *reader) keepalive(ctx context.Context, pkm pglogrepl.PrimaryKeepaliveMessage) error {
	between := !r.dec.inTx && len(r.pending) == 0
	if between && pkm.ServerWALEnd > r.idleEnd {
		r.idleEnd = pkm.ServerWALEnd
	}
	if pkm.ReplyRequested {
		if err := r.sendStatus(ctx, false); err != nil {
			return err
		}
		if r.pings.add(pkm.ServerWALEnd) && r.flushPosition() < pkm.ServerWALEnd {
			return errServerWaiting
		}
	}
	if between && pkm.ServerWALEnd > r.heartbeat {
		r.heartbeat = pkm.ServerWALEnd
		return r.push(ctx, item{heartbeat: pkm.ServerWALEnd})
	}
	return nil
}

// xlogData decodes one pgoutput message into the pending chunk. A full
// chunk goes out when the next change arrives, so that a commit right after
// it travels with it; a commit sends the chunk with its LSN.
func (r *reader) xlogData(ctx context.Context, xld pglogrepl.XLogData) error {
	r.dataInWindow = true
	r.idle.Store(false)
	r.lastData = time.Now()
	if xld.WALStart > r.received {
		r.received = xld.WALStart
	}
	var c change.Change
	ev, err := r.dec.handle(ctx, xld.WALData, &c)
	if err != nil {
		return err
	}
	switch ev {
	case evChange:
		if len(r.pending) == chunkSize {
			if err := r.push(ctx, item{changes: r.handOver()}); err != nil {
				return err
			}
		}
		if len(r.pending) == cap(r.pending) {
			// The chunk's array is used up: the run moves to a new one.
			r.pending = append(make([]change.Change, 0, chunkSize), r.pending...)
		}
		r.pending = append(r.pending, c)
	case evCommit:
		if err := r.push(ctx, item{changes: r.handOver(), commit: r.dec.commitLSN, end: r.dec.commitEnd}); err != nil {
			return err
		}
		r.pushedCommit = r.dec.commitLSN
	}
	return nil
}

// handOver returns the pending changes for an item and starts a new pending
// run in what is left of the chunk's array, so that a run of small
// transactions shares one allocation instead of one chunk each. The changes
// handed over are never written again: the slice returned has no capacity
// beyond them, and the next changes go past them.
func (r *reader) handOver() []change.Change {
	n := len(r.pending)
	out := r.pending[:n:n]
	r.pending = r.pending[n:]
	if n == 0 {
		out = nil
	}
	return out
}

// push hands an item to Next, keeping the server informed while Next is
// behind (the server is not read meanwhile, but status updates go out).
func (r *reader) push(ctx context.Context, it item) error {
	t := time.NewTimer(statusInterval)
	defer t.Stop()
	for {
		select {
		case r.items <- it:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-r.ackWake:
			if err := r.maybeSendStatus(ctx, false); err != nil {
				return err
			}
		case <-t.C:
			if err := r.sendStatus(ctx, false); err != nil {
				return err
			}
			t.Reset(statusInterval)
		}
	}
}

// maybeSendStatus sends a status update when the acknowledged position
// moved, the interval passed, or a reply is wanted.
func (r *reader) maybeSendStatus(ctx context.Context, replyRequested bool) error {
	select {
	case <-r.ackWake:
	default:
	}
	if r.ping.Swap(false) {
		replyRequested = true
	}
	if !replyRequested && r.flushPosition() == r.sentFlush && time.Since(r.lastStatus) < statusInterval {
		return nil
	}
	return r.sendStatus(ctx, replyRequested)
}

// flushPosition is the LSN the server may consider durably applied: the
// acknowledged position or, once every transaction handed to Next is
// acknowledged and none is in progress, the WAL end of the last keepalive
// received between transactions. Every commit before that end was either
// handed out (and is now acknowledged) or belongs to other tables, and the
// server resumes a slot with the first commit at or after its confirmed
// position, so nothing is skipped.
func (r *reader) flushPosition() pglogrepl.LSN {
	acked := pglogrepl.LSN(r.acked.Load())
	if acked >= r.pushedCommit && !r.dec.inTx && r.idleEnd > acked {
		return r.idleEnd
	}
	return acked
}

// sendStatus reports flushPosition as flushed and applied: the slot's
// confirmed_flush_lsn never passes what the engine has durably applied.
func (r *reader) sendStatus(ctx context.Context, replyRequested bool) error {
	flush := r.flushPosition()
	err := pglogrepl.SendStandbyStatusUpdate(ctx, r.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: max(r.received, flush),
		WALFlushPosition: flush,
		WALApplyPosition: flush,
		ReplyRequested:   replyRequested,
	})
	if err != nil {
		return fmt.Errorf("send standby status: %w", err)
	}
	r.sentFlush, r.lastStatus = flush, time.Now()
	return nil
}

// add counts a reply request at walEnd and reports whether the server has
// been asking persistently.
func (p *pingCount) add(walEnd pglogrepl.LSN) bool {
	if walEnd != p.walEnd || time.Since(p.since) > pingWindow {
		*p = pingCount{walEnd: walEnd, since: time.Now()}
	}
	p.n++
	return p.n >= pingLimit
}
