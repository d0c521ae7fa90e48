// Package statetest is the conformance suite every state.Store runs: the
// contract written in the Store interface's comments, checked against a real
// database rather than a mock, so that a second implementation cannot drift
// from the first.
//
// A store's own tests call Run with a function that opens a fresh, empty
// store (a new SQLite file, a throw-away PostgreSQL schema). Every case gets
// its own store and runs in parallel with the others, which also exercises
// the store's connection handling. Cases that depend on time (lease expiry)
// use the database's clock through the store, so they wait in real time for
// a fraction of a second rather than faking a clock the database cannot see.
package statetest
