// Package change defines the envelope every source emits and every sink
// consumes: Change, its typed Values, Rows, Keys and opaque Positions.
//
// It is pure data: no I/O and nothing beyond the standard library, so every
// other package can depend on it. Values are typed so that data crosses
// stores without loss: decimals are exact strings and never pass through
// float64, timestamps keep microseconds, NULL is distinct from the empty
// string, and a type a driver cannot map is carried as text together with its
// source type name rather than dropped.
package change
