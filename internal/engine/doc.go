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
//
// A both-way flow (direction: both; see docs/adr/0002-bidirectional.md)
// runs as two pipelines, forward and "<flow>.reverse", sharing a bidi: the
// base of each key, a mutex held around each pipeline's decide, apply and
// commit, and write-back sinks into both sides (plan_both.go, bidi.go).
// Each batch is decided on the rows as they are now (both.go, decide.go):
// the source's row, the target's row read locked in the target transaction,
// and the base; the latest change still describing the source's row is
// applied, or met as a conflict and settled by internal/conflict, the
// winner written to both sides. An intent saved before the target commits
// lets a restart finish a transaction that a crash cut between its target
// commit, its write-back and its record.
package engine
