// Package engine runs flows: capture → transform → apply, with batching,
// per-key order, source-transaction atomicity, retries, the dead-letter queue
// and ordering between flows.
//
// A flow's life (see flow.go): take the flow's lease; read the checkpoint the
// sink holds (the authority: it was written in the same transaction as the
// data); prepare capture; when the flow is new, take the source's position
// and backfill in key-ordered chunks, each committed with a checkpoint that
// records the last key copied; then stream from the position taken before the
// backfill. Streaming replays the changes made while the backfill ran;
// applying them again is harmless because apply is idempotent and they come in
// commit order, so the target converges to the source.
//
// Commits happen only at source-transaction boundaries, so a source
// transaction is applied all or nothing. A change that cannot be applied is
// parked in the dead-letter queue (durably, before the transaction that skips
// it commits); later changes to the same key are parked behind it so per-key
// order is kept.
package engine
