// Package conflict decides conflicts of both-way flows. Its resolvers are
// pure functions: they take the base and the two versions of a row and
// return which one wins, or a merged row, or that an operator must decide.
// Nothing here does I/O, so table tests cover every policy.
//
// A conflict is a change from one side ("ours") meeting a row the other side
// ("theirs") changed since the base, the last row both sides agreed on.
// Rows are in the to table's model (the flow's target columns), whichever
// side the change came from, so column names in the config (conflict.columns,
// owner.columns, conflict.timestamp, rules) always mean to-table columns. A
// nil row is a deleted one.
//
// Policies:
//
//   - lww: the version written last wins (Version.Time: the flow's
//     conflict.timestamp column, or the commit time); equal times go to the
//     store whose name sorts first, so both pipelines decide alike.
//   - source-wins, target-wins: the version from the flow's from (to) store.
//   - owner: the owner store's version wins for the rows it owns (all, or
//     those matching owner.rows) and, when owner.columns is set, only for
//     those columns: the rest come from the other store, which owns them.
//   - merge: three-way per column against the base: a column only one side
//     changed takes that side's value; a column both changed differently
//     is decided by conflict.fallback. A delete against an update is decided
//     by the fallback as a whole.
//   - rule: an expression over base, ours and theirs returning "ours",
//     "theirs", "source", "target", "manual" or a map of column values
//     (merged onto ours).
//   - manual: parked for an operator.
//
// conflict.columns overrides the policy for single columns: a column both
// sides changed (or any column, without a base) takes the value its own
// policy picks; a column only one side changed keeps that side's value.
package conflict
