// Package connector defines the contracts between the engine and the drivers
// of each kind of store.
//
// A Driver opens a Store from its configuration. A Store describes its tables
// and hands out a Source (capture side of a flow) and a Sink (apply side). The
// small core interfaces are extended by optional capabilities the engine finds
// by type assertion: Preparer (idempotent setup such as installing triggers),
// CaptureChecker (is the capture mode possible), Scanner (key-ordered range
// reads for backfill and reconciliation).
//
// The life of a flow, as the engine drives it:
//
//	src.(Preparer).Prepare      install capture (triggers, slot, publication)
//	pos := src.Position()       taken before the backfill, so nothing between is missed
//	src.Snapshot(after, n)...   key-ordered chunks, each applied with a Checkpoint{Phase: Backfill}
//	st := src.Stream(pos)       changes after pos, in commit order, in Batches
//	tx := sink.Begin(); tx.Apply(...)...; tx.Commit(checkpoint)   durable, checkpoint in the same tx
//	st.Ack(position)            the source may now release what is at or before it
//
// Delivery is at-least-once: after a crash the engine resumes from the
// checkpoint the sink holds, so a sink sees some changes again and must apply
// them idempotently (upsert by key, delete tolerant of a missing row).
package connector
