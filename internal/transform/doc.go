// Package transform is the anti-corruption layer between a flow's source and
// target: column renames, computed columns, constants and row filters. It is
// pure: values in, values out, no I/O, so table tests cover it completely.
//
// Compile turns a flow's Spec (source table, optional target table, key,
// column mapping, filter) into a Mapping once; Apply maps each change. A
// mapping value is a rename when it is exactly the name of a source column
// (exact, invertible, any column name works); anything else is an expression
// in expr (github.com/expr-lang/expr, see docs/adr/0001-expression-language.md),
// type-checked at Compile against the source columns:
//
//	id: cust_id                              rename
//	email: lower(email_adr)                  expression
//	full_name: concat_ws(" ", first, last)   joining name fields (NULLs skipped)
//	label: concat(code, "-", name)           text concatenation (NULLs skipped)
//	first: split_part(full_name, " ", 1)     splitting them
//	status: '"ACTIVE"'                       a text constant: expr quotes inside YAML quotes
//	region: 42                               a number constant
//	synced_at: now()                         the change's commit time, not the wall clock
//
// What expressions see. Every source column is a variable of the Go type of
// its kind: int64, float64, string, bool, []byte, time.Time for timestamps
// and dates, []any for arrays. Decimals, times of day, JSON, UUIDs and
// unknown types are their exact text, so a decimal never silently becomes a
// float; decimal(x) converts to float64 when arithmetic is really wanted. A
// NULL is nil. A column whose name is not an identifier is $env["first
// name"]. A source column shadows a function of the same name.
//
// Helpers beyond expr's builtins: coalesce(a, b, ...), concat(...) (which
// replaces expr's array concat with SQL's text concat), concat_ws(sep, ...),
// split_part(s, sep, n), hash(s) (hex SHA-256, unkeyed), decimal(x), and
// now(). lower, upper, trim, trimPrefix, trimSuffix and replace follow SQL's
// NULL rule: NULL in, NULL out. Other operations on NULL fail the change
// unless written with ?? (email ?? "").
//
// What Apply produces. Renames copy the Value unchanged (the sink converts
// it to the column's type). Expression results become the target column's
// kind when the target is known: an int or float into a decimal column is
// formatted exactly (strconv 'f', -1), a string is parsed by the kind's
// canonical parser (decimal, timestamp, date, uuid, json...). A result that
// cannot become the kind is an *Error, and the engine parks the change.
//
// Keys are renames by rule: an expression on a target key column is a
// Compile error. That keeps every key invertible, which deletes, `both`
// flows and reconciliation rely on.
package transform
