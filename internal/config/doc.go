// Package config is the YAML model of syncbridge.yaml: typed structs, strict
// decoding (an unknown key is an error with file:line), ${VAR} and
// ${VAR:-default} expansion in scalar values, and a static Validate that
// reports every problem with its path. Checks that need the stores (tables,
// keys, types, capture settings) live in the engine's preflight.
//
// The life of a config:
//
//	cfg, err := config.Load(path)        // parse, expand, strict decode, defaults
//	err = cfg.Validate(config.WithDrivers(registry.Names()...))
//
// Load reports syntax errors, unknown keys, wrong types and unset environment
// variables as *FileError values ("syncbridge.yaml:12:5: ..."), several of
// them joined when there are several. Validate reports every semantic problem
// as a *Problem ("flows[2].columns.email: ..."), joined with errors.Join, so
// that one run of `syncbridge validate` lists everything to fix.
//
// Expansion happens on the parsed document, inside scalar values only: a
// variable's value can never add keys, lists or documents, whatever it holds.
// An unquoted scalar is re-typed after expansion, so `enabled: ${ON}` decodes
// into a bool when ON=true.
//
// Relative paths are resolved against the directory of the config file, not
// the working directory: the state file and the DSN of sqlite stores. So
// `syncbridge run -c examples/quickstart/syncbridge.yaml` behaves the same
// from any directory.
//
// Secrets never reach logs: RedactDSN masks the password of every DSN form the
// drivers accept, and Config.Redacted returns a copy safe to print.
package config
