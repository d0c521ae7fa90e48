package config

import (
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Config is the whole file.
type Config struct {
	// State is the state store: a path to an embedded SQLite file (default
	// ./syncbridge-state.db, relative to the config file's directory) or a
	// postgres:// DSN.
	State  string           `yaml:"state"`
	HTTP   HTTP             `yaml:"http"`
	Log    Log              `yaml:"log"`
	Stores map[string]Store `yaml:"stores"`
	Flows  []Flow           `yaml:"flows"`
	// Path is the file the config was read from (not a YAML key).
	Path string `yaml:"-"`
}

// HTTP is the single listener for metrics, health and the API.
type HTTP struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8686; "off" disables the listener
	// Token is required as a bearer token on /api/v1 and the dashboard; it
	// must be set when Listen is not a loopback address.
	Token string `yaml:"token"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error (default info)
	Format string `yaml:"format"` // text | json (default text)
}

// Store is one datastore endpoint.
type Store struct {
	Driver string `yaml:"driver"`
	// DSN is the driver's connection string. A relative path in a sqlite DSN
	// is relative to the config file's directory. Print it with RedactDSN.
	DSN string `yaml:"dsn"`
	// Capture is how changes are read: logical | binlog | trigger | poll |
	// subscribe. Empty lets the driver choose (or the store is only written).
	Capture string `yaml:"capture"`
	// ZeroDates (mysql only) is what a zero date ('0000-00-00', or a zero
	// month or day) read from the store becomes: error (the default) stops
	// the flow with an error naming the row; null reads it as NULL, logged
	// once per column.
	ZeroDates string `yaml:"zero_dates"`
}

// Flow is one table pair between two stores.
type Flow struct {
	Name string   `yaml:"name"`
	From Endpoint `yaml:"from"`
	To   Endpoint `yaml:"to"`
	// Key lists the source key columns; empty = the source table's primary key.
	Key []string `yaml:"key"`
	// Columns maps target column -> source column name or expression, in
	// order. Empty = every source column under its own name.
	Columns Columns `yaml:"columns"`
	// Filter is an expression over the source row; rows for which it is false
	// are not synced (an update that leaves the filter deletes the target row).
	Filter    string `yaml:"filter"`
	Direction string `yaml:"direction"` // one-way (default) | both
	// Reverse maps a `both` flow backwards: source column <- expression
	// over the target row, for the columns computed by expressions.
	// Renames invert by themselves; constants need nothing.
	Reverse  Columns  `yaml:"reverse"`
	Conflict Conflict `yaml:"conflict"`
	After    []string `yaml:"after"`
	Poll     Poll     `yaml:"poll"`
	// Truncate says what a source TRUNCATE does: propagate (default)
	// deletes every target row in order with the other changes; ignore logs
	// and counts it (syncbridge_truncates_ignored_total).
	Truncate string `yaml:"truncate"`
	Batch    Batch  `yaml:"batch"`
	Retry    Retry  `yaml:"retry"`
	// Reconcile schedules a diff of the flow inside `run`.
	Reconcile Reconcile `yaml:"reconcile"`
}

// Reconcile schedules reconciliation of a flow by `run`.
type Reconcile struct {
	Every  Duration `yaml:"every"`  // how often; 0 = never (the default)
	Repair bool     `yaml:"repair"` // apply corrective changes for the drift found
}

// Endpoint is one side of a flow.
type Endpoint struct {
	Store string `yaml:"store"`
	Table string `yaml:"table"`
}

// Column is one entry of a flow's column mapping.
type Column struct {
	Target string // target column name
	Source string // source column name or expression
}

// Columns is an ordered column mapping; it decodes from a YAML mapping.
type Columns []Column

// Conflict is the conflict policy of a `both` flow. Column names are the
// target (to) table's.
type Conflict struct {
	Policy    string `yaml:"policy"`    // lww | source-wins | target-wins | owner | merge | rule | manual
	Timestamp string `yaml:"timestamp"` // target-side column for lww
	// Columns overrides the policy for single columns: column -> lww |
	// source-wins | target-wins | owner | manual.
	Columns  map[string]string `yaml:"columns"`
	Owner    Owner             `yaml:"owner"`    // for owner (as policy, fallback or column policy)
	Fallback string            `yaml:"fallback"` // merge: policy for columns both sides changed
	Rule     string            `yaml:"rule"`     // rule: expression over base, ours and theirs
	// TombstoneTTL is how long a deletion both sides agreed on is
	// remembered (default 7d).
	TombstoneTTL Duration `yaml:"tombstone_ttl"`
}

// Owner says which store owns what, for the owner policy.
type Owner struct {
	Store   string   `yaml:"store"`   // the flow's from or to store
	Columns []string `yaml:"columns"` // owned columns; empty = the whole row
	Rows    string   `yaml:"rows"`    // expression over the target row; empty = every row
}

// Poll configures capture: poll for a flow.
type Poll struct {
	Column string   `yaml:"column"` // source column that advances on every change
	Every  Duration `yaml:"every"`  // how often to poll (default 1m)
	// Lag keeps polling this far behind the store's clock so rows committed
	// late with an older timestamp are not missed (default 5s).
	Lag Duration `yaml:"lag"`
}

// Batch bounds how much is applied per target transaction.
type Batch struct {
	Size   int      `yaml:"size"`   // changes per batch (default 1000)
	Linger Duration `yaml:"linger"` // wait this long for a fuller batch (default 50ms)
}

// Retry bounds retries of failed work.
type Retry struct {
	MaxAttempts int      `yaml:"max_attempts"` // attempts before a change is parked (default 3)
	Backoff     Duration `yaml:"backoff"`      // first backoff (default 200ms), doubled with jitter
	MaxBackoff  Duration `yaml:"max_backoff"`  // cap (default 30s)
}

// Duration is a time.Duration written as "1m30s" in YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// unquotedNulls restores the keys whose value may be the word null: YAML
// reads an unquoted `zero_dates: null` as no value, which would silently mean
// the default (error), the opposite of what was written.
func (c *Config) unquotedNulls(body ast.Node) {
	for _, store := range mappingValues(body, "stores") {
		name := store.Key.String()
		for _, kv := range mapping(store.Value) {
			n, ok := kv.Value.(*ast.NullNode)
			if kv.Key.String() != "zero_dates" || !ok || !strings.EqualFold(n.GetToken().Value, "null") {
				continue
			}
			if s, ok := c.Stores[name]; ok {
				s.ZeroDates = "null"
				c.Stores[name] = s
			}
		}
	}
}

// mappingValues returns the entries of the mapping under key in the top-level mapping n.
func mappingValues(n ast.Node, key string) []*ast.MappingValueNode {
	for _, kv := range mapping(n) {
		if kv.Key.String() == key {
			return mapping(kv.Value)
		}
	}
	return nil
}

// mapping returns the entries of a mapping node (nil for anything else).
func mapping(n ast.Node) []*ast.MappingValueNode {
	switch v := n.(type) {
	case *ast.MappingNode:
		return v.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}
	case *ast.AnchorNode:
		return mapping(v.Value)
	}
	return nil
}
