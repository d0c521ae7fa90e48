package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

const (
	// idleWait is how long Next waits for data before it returns an empty,
	// caught-up batch.
	idleWait = time.Second
	// lingerWait is how long Next waits for more transactions to fill a
	// batch while the server is still sending.
	lingerWait = 10 * time.Millisecond
	// batchPresize bounds the capacity Next gives a batch up front when
	// the reader's chunks come full (see takeLeftover).
	batchPresize = 32 * chunkSize
)

// Stream opens the replication stream on the flow's slot just after from
// (nil = from the slot's confirmed position). Transactions whose commit LSN
// is at or before from are skipped, so from may be any LSN at or after the
// slot's confirmed position, e.g. one taken by Position before a backfill.
//
// A missing or invalidated slot gives an error wrapping
// connector.ErrPositionLost: the flow needs a re-backfill.
func (src *LogicalSource) Stream(ctx context.Context, from change.Position) (connector.Stream, error) {
	var fromLSN pglogrepl.LSN
	if len(from) > 0 {
		p, err := ParsePosition(from)
		if err != nil {
			return nil, err
		}
		fromLSN = p.LSN
	}
	st := src.store
	info, err := st.slotInfo(ctx, src.slot)
	if err != nil {
		return nil, st.wrapErr(fmt.Errorf("store %q: read slot %q: %w", st.name, src.slot, err))
	}
	if err := src.checkSlot(info); err != nil {
		return nil, err
	}
	// The slot may be ahead of from: the reader confirms the server's WAL
	// end once everything handed out is acknowledged (see flushPosition),
	// and the server resumes at the slot's position anyway. Only changes of
	// other tables lie in between, unless someone advanced the slot by hand.
	acked := max(fromLSN, info.confirmedFlush)
	conn, err := src.startReplication(ctx, fromLSN)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &stream{
		src:      src,
		r:        newReader(conn, newDecoder(st, src, fromLSN), acked),
		cancel:   cancel,
		done:     make(chan struct{}),
		boundary: fromLSN,
		seen:     max(fromLSN+1, acked),
	}
	go func() {
		defer close(s.done)
		s.r.run(runCtx)
	}()
	st.log.Info("replication stream started", "flow", src.spec.Flow, "slot", src.slot,
		"position", Position{LSN: fromLSN}.String())
	return s, nil
}

// checkSlot turns a missing or invalidated slot into ErrPositionLost.
func (src *LogicalSource) checkSlot(info *slot) error {
	name := src.store.name
	if info == nil {
		return fmt.Errorf("store %q: slot %q no longer exists, so changes since the checkpoint may be lost: re-backfill the flow with `syncbridge reset --flow %s` then `syncbridge run` (the slot is recreated): %w",
			name, src.slot, src.spec.Flow, connector.ErrPositionLost)
	}
	if info.walStatus == "lost" {
		return fmt.Errorf("store %q: slot %q was invalidated (its WAL was removed, see max_slot_wal_keep_size): "+
			"re-backfill the flow with `syncbridge reset --flow %s --drop-capture` then `syncbridge run`: %w",
			name, src.slot, src.spec.Flow, connector.ErrPositionLost)
	}
	if info.plugin != "pgoutput" {
		return fmt.Errorf("store %q: slot %q uses plugin %q, not pgoutput", name, src.slot, info.plugin)
	}
	return nil
}

// startReplication opens a replication connection and starts streaming.
// A slot still held by a previous session (a crashed stream's walsender
// lingers for a moment) is retried for a few seconds.
func (src *LogicalSource) startReplication(ctx context.Context, from pglogrepl.LSN) (*pgconn.PgConn, error) {
	st := src.store
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := pgconn.ConnectConfig(ctx, st.replCfg.Copy())
		if err != nil {
			return nil, st.wrapErr(fmt.Errorf("store %q: open replication connection: %w", st.name, err))
		}
		err = pglogrepl.StartReplication(ctx, conn, src.slot, from, pglogrepl.StartReplicationOptions{
			PluginArgs: []string{"proto_version '1'", fmt.Sprintf("publication_names '%s'", src.publication)},
		})
		if err == nil {
			return conn, nil
		}
		_ = conn.Close(context.Background())
		pe, isPg := errorsAsPg(err)
		switch {
		case isPg && pe.Code == "55006" && time.Now().Before(deadline): // slot active for another PID
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		case isPg && pe.Code == "42704": // undefined object: dropped meanwhile
			return nil, src.checkSlot(nil)
		case isPg && pe.Code == "55000": // invalidated
			return nil, fmt.Errorf("store %q: slot %q: %s: re-backfill the flow %q: %w",
				st.name, src.slot, pe.Message, src.spec.Flow, connector.ErrPositionLost)
		}
		return nil, st.wrapErr(fmt.Errorf("store %q: start replication on slot %q: %w", st.name, src.slot, err))
	}
}

// stream is an open replication stream. Next and Ack are called from one
// goroutine at a time; the reader goroutine feeds Next through a bounded
// channel, so memory stays bounded whatever the transaction size.
type stream struct {
	src    *LogicalSource
	r      *reader
	cancel context.CancelFunc
	done   chan struct{}

	// boundary is the position of the last transaction boundary handed out:
	// the greatest of the start position, the last commit and the last
	// heartbeat (minus one, see heartbeatPosition).
	boundary pglogrepl.LSN
	inTx     bool // the changes handed out so far end inside a transaction
	// leftover holds the rest of a chunk that did not fit the last batch;
	// leftoverCommit ends it when set.
	leftover       []change.Change
	leftoverCommit pglogrepl.LSN
	leftoverEnd    pglogrepl.LSN
	err            error // sticky: the stream failed

	// seen is how far the server is known to have decoded: every commit
	// record that starts before it has been handed out (the end of the last
	// commit, the WAL end of a keepalive between transactions). walEnd is
	// the server's WAL position read when the stream last ran dry: once
	// seen reaches it, everything committed before that read is handed out
	// and the stream is caught up.
	seen, walEnd pglogrepl.LSN
	lastDry      time.Time // when Next last returned an empty batch early (see dry)
}

var _ connector.Stream = (*stream)(nil)

// Next returns up to max changes in commit order. A batch that ends on a
// commit carries its position; one that ends inside a transaction does not.
// With nothing to hand out it returns an empty batch at the last boundary,
// as soon as the stream has caught up with the server's WAL position (see
// dry) or after a second, caught up or not.
func (s *stream) Next(ctx context.Context, max int) (connector.Batch, error) {
	if s.err != nil {
		return connector.Batch{}, s.err
	}
	max = maxInt(max, 1)
	var (
		b connector.Batch
		w waits
	)
	defer w.stop()
	for {
		s.takeLeftover(&b, max)
		if len(b.Changes) >= max {
			return s.finish(b), nil
		}
		if len(b.Changes) == 0 && !s.inTx {
			if done, err := s.dry(ctx, &w); err != nil || done {
				return s.finish(b), err
			}
		}
		it, ok, stop, err := s.receive(ctx, len(b.Changes) > 0, &w)
		switch {
		case err != nil:
			return connector.Batch{}, err
		case stop:
			return s.finish(b), nil
		}
		if err := s.take(it, ok); err != nil {
			return connector.Batch{}, err
		}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// waits are the timers of one Next call, started on first need, and what
// dry decided in it.
type waits struct {
	idle, linger *time.Timer
	checked      bool // dry read the server's WAL position
	early        bool // and may return as soon as the stream reaches it
}

func (w *waits) stop() {
	for _, t := range []*time.Timer{w.idle, w.linger} {
		if t != nil {
			t.Stop()
		}
	}
}

// dry runs while Next has nothing in hand between transactions. Once per
// call it reads the server's WAL position (when the stream has reached the
// last one read) and, while the stream is behind it, asks for a keepalive,
// whose WAL end shows how far the server has decoded. It reports done when
// the stream has reached that position: everything committed before the
// read is handed out, and Next returns a caught-up batch at once instead of
// after idleWait, so a --once run ends without an idle tail. It does so at
// most once per idleWait, so that a stream whose table is quiet on a busy
// server does not spin.
func (s *stream) dry(ctx context.Context, w *waits) (done bool, err error) {
	if !w.checked {
		w.checked = true
		if s.seen >= s.walEnd {
			if err := s.readWALEnd(ctx); err != nil {
				return false, err
			}
		}
		w.early = time.Since(s.lastDry) >= idleWait
		if w.early && s.seen < s.walEnd {
			s.r.requestKeepalive()
		}
	}
	return w.early && s.seen >= s.walEnd, nil
}

// readWALEnd reads the server's current WAL position into walEnd.
func (s *stream) readWALEnd(ctx context.Context) error {
	st := s.src.store
	var text string
	if err := st.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&text); err != nil {
		return st.wrapErr(fmt.Errorf("store %q: read wal position: %w", st.name, err))
	}
	lsn, err := pglogrepl.ParseLSN(text)
	if err != nil {
		return err
	}
	s.walEnd = max(s.walEnd, lsn)
	return nil
}

// receive waits for the reader's next item. Inside a transaction it waits
// as long as it takes. At a boundary with changes in hand it takes what is
// ready and lingers briefly while the server is still sending, so that many
// small transactions make one batch. With nothing in hand it waits up to
// idleWait. stop says the batch should be returned as it is.
func (s *stream) receive(ctx context.Context, have bool, w *waits) (it item, ok, stop bool, err error) {
	var timeout <-chan time.Time
	switch {
	case s.inTx:
	case have:
		select {
		case it, ok = <-s.r.items:
			return it, ok, false, nil
		default:
		}
		if s.r.idle.Load() {
			return item{}, false, true, nil
		}
		if w.linger == nil {
			w.linger = time.NewTimer(lingerWait)
		}
		timeout = w.linger.C
	default:
		if w.idle == nil {
			w.idle = time.NewTimer(idleWait)
		}
		timeout = w.idle.C
	}
	select {
	case it, ok = <-s.r.items:
		return it, ok, false, nil
	case <-timeout:
		return item{}, false, true, nil
	case <-ctx.Done():
		return item{}, false, false, ctx.Err()
	}
}

// take applies one item from the reader to the stream's state.
func (s *stream) take(it item, ok bool) error {
	switch {
	case !ok:
		s.err = errors.New("replication stream closed")
		return s.err
	case it.err != nil:
		s.err = s.src.store.wrapErr(fmt.Errorf("store %q: replication stream on slot %q: %w", s.src.store.name, s.src.slot, it.err))
		return s.err
	case it.heartbeat != 0:
		s.advance(heartbeatPosition(it.heartbeat))
		s.seen = max(s.seen, it.heartbeat)
	case len(it.changes) == 0 && it.commit != 0:
		s.committed(it.commit, it.end)
	default:
		s.leftover, s.leftoverCommit, s.leftoverEnd = it.changes, it.commit, it.end
		s.inTx = true
	}
	return nil
}

// takeLeftover moves what fits of the pending chunk into b.
func (s *stream) takeLeftover(b *connector.Batch, max int) {
	if len(s.leftover) == 0 {
		return
	}
	n := min(max-len(b.Changes), len(s.leftover))
	if b.Changes == nil && len(s.leftover) == chunkSize && max > n {
		// A full chunk: a large transaction or a burst is coming through,
		// the batch will most likely fill. Sized once, not grown by copies.
		b.Changes = make([]change.Change, 0, min(max, batchPresize))
	}
	b.Changes = append(b.Changes, s.leftover[:n]...)
	s.leftover = s.leftover[n:]
	if len(s.leftover) == 0 {
		s.leftover = nil
		if s.leftoverCommit != 0 {
			s.committed(s.leftoverCommit, s.leftoverEnd)
			s.leftoverCommit, s.leftoverEnd = 0, 0
		}
	}
}

// finish positions a batch that ends between transactions. It is caught up
// when the stream has reached the server's WAL position last read and
// nothing else is waiting: a server still decoding a large transaction
// sends nothing for a while, which is not the same as having nothing.
func (s *stream) finish(b connector.Batch) connector.Batch {
	if !s.inTx {
		b.Position = Position{LSN: s.boundary}.Bytes()
		b.CaughtUp = s.walEnd != 0 && s.seen >= s.walEnd && len(s.r.items) == 0 && len(s.leftover) == 0
		if len(b.Changes) == 0 {
			s.lastDry = time.Now()
		}
	}
	return b
}

// committed notes that the transaction whose commit record spans
// [commit, end) has been handed out.
func (s *stream) committed(commit, end pglogrepl.LSN) {
	s.advance(commit)
	s.seen = max(s.seen, end)
	s.inTx = false
}

func (s *stream) advance(lsn pglogrepl.LSN) {
	if lsn > s.boundary {
		s.boundary = lsn
	}
}

// heartbeatPosition is the position an idle stream may report after a
// keepalive at walEnd. Every commit record that starts before walEnd has
// been delivered, but one may start exactly at walEnd; positions mean
// "commits at or before here are done", hence one less.
func heartbeatPosition(walEnd pglogrepl.LSN) pglogrepl.LSN { return walEnd - 1 }

// Ack tells the server that everything up to pos is durably applied: the
// slot's confirmed position moves there and the WAL before it can go.
func (s *stream) Ack(_ context.Context, pos change.Position) error {
	if len(pos) == 0 {
		return nil
	}
	p, err := ParsePosition(pos)
	if err != nil {
		return err
	}
	s.r.ack(p.LSN)
	return nil
}

// Close stops the reader and closes the replication connection.
func (s *stream) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// Truncates returns how many TRUNCATEs of the table the stream has seen and
// not propagated.
func (s *stream) Truncates() int64 { return s.r.dec.truncates.Load() }

// CheckResume reports a missing or invalidated slot before Prepare could
// recreate it at the current end of the WAL, which would silently skip the
// changes since from.
func (src *LogicalSource) CheckResume(ctx context.Context, from change.Position) error {
	info, err := src.store.slotInfo(ctx, src.slot)
	if err != nil {
		return src.store.wrapErr(fmt.Errorf("store %q: read slot %q: %w", src.store.name, src.slot, err))
	}
	if err := src.checkSlot(info); err != nil {
		return fmt.Errorf("cannot resume from %s: %w", from, err)
	}
	return nil
}
