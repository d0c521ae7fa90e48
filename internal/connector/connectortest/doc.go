// Package connectortest holds the conformance suites every driver runs:
// RunSource for capture and RunSink for apply. A driver's test provides a
// small harness over a real store (never a mock):
//
//	func TestConformance(t *testing.T) {
//		h := newHarness(t) // opens a throw-away store
//		t.Run("Source", func(t *testing.T) { connectortest.RunSource(t, h) })
//		t.Run("Sink", func(t *testing.T) { connectortest.RunSink(t, h) })
//	}
//
// A SinkHarness gives the store and creates tables of one fixed shape (id,
// name, amount, at, flag, data) in the driver's own DDL; a SourceHarness adds
// the capture mode and a way to write to the store as an application would.
//
// The source suite checks: key-ordered snapshots across chunk boundaries;
// inserts, updates and deletes in commit order with exact typed values
// (decimal scale, microsecond timestamps, NULL versus empty text and bytes);
// a multi-row transaction read in small batches carries a Position only at
// its end; resuming from an acked position yields only later changes; an idle
// stream returns an empty caught-up batch with a position; Compare is a
// consistent order. The sink suite checks: upserts and deletes are
// idempotent under replay; values round-trip; the checkpoint round-trips and
// commits or rolls back with the data; a bad value is an *ApplyError naming
// its index, and the transaction remains usable. Every subtest checks that
// no goroutine outlives it.
package connectortest
