package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Defaults for everything the file may omit. They are part of the user
// contract: the config reference documents them, so change both together.
const (
	DefaultState          = "./syncbridge-state.db"
	DefaultListen         = "127.0.0.1:8686"
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
	DefaultDirection      = DirectionOneWay
	DefaultBatchSize      = 1000
	DefaultBatchLinger    = 50 * time.Millisecond
	DefaultMaxAttempts    = 3
	DefaultBackoff        = 200 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultPollEvery      = time.Minute
	DefaultPollLag        = 5 * time.Second
	DefaultTombstoneTTL   = 7 * 24 * time.Hour
	ListenOff             = "off" // http.listen value that disables the listener
	DirectionOneWay       = "one-way"
	DirectionBoth         = "both"
	sqliteDriver          = "sqlite"
	postgresURLPrefix     = "postgres://"
	postgresqlURLPrefix   = "postgresql://"
	sqliteFileURIPrefix   = "file:"
	sqliteMemoryPath      = ":memory:"
	sqliteMemoryModeParam = "mode=memory"
)

// applyDefaults fills what the file left out and anchors relative paths at
// the config file's directory. Zero values mean "not set": a flow cannot ask
// for linger 0 or batch size 0, which would only ever be a mistake.
func (c *Config) applyDefaults() {
	dir := ""
	if c.Path != "" {
		dir = filepath.Dir(c.Path)
	}
	if c.State == "" {
		c.State = DefaultState
	}
	if !strings.HasPrefix(c.State, postgresURLPrefix) && !strings.HasPrefix(c.State, postgresqlURLPrefix) {
		c.State = resolveSQLitePath(dir, c.State)
	}
	setDefault(&c.HTTP.Listen, DefaultListen)
	setDefault(&c.Log.Level, DefaultLogLevel)
	setDefault(&c.Log.Format, DefaultLogFormat)
	for name, s := range c.Stores {
		if s.Driver == sqliteDriver {
			s.DSN = resolveSQLitePath(dir, s.DSN)
			c.Stores[name] = s
		}
	}
	for i := range c.Flows {
		c.Flows[i].applyDefaults()
	}
}

func (f *Flow) applyDefaults() {
	setDefault(&f.Direction, DefaultDirection)
	if f.Batch.Size == 0 {
		f.Batch.Size = DefaultBatchSize
	}
	if f.Batch.Linger == 0 {
		f.Batch.Linger = Duration(DefaultBatchLinger)
	}
	if f.Retry.MaxAttempts == 0 {
		f.Retry.MaxAttempts = DefaultMaxAttempts
	}
	if f.Retry.Backoff == 0 {
		f.Retry.Backoff = Duration(DefaultBackoff)
	}
	if f.Retry.MaxBackoff == 0 {
		f.Retry.MaxBackoff = Duration(DefaultMaxBackoff)
	}
	if f.Poll.Every == 0 {
		f.Poll.Every = Duration(DefaultPollEvery)
	}
	if f.Poll.Lag == 0 {
		f.Poll.Lag = Duration(DefaultPollLag)
	}
	if f.Direction == DirectionBoth && f.Conflict.TombstoneTTL == 0 {
		f.Conflict.TombstoneTTL = Duration(DefaultTombstoneTTL)
	}
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// resolveSQLitePath joins a relative SQLite path (plain, or a file: URI, with
// or without ?query) to dir. In-memory databases, absolute paths and anything
// that looks like a URL are returned unchanged.
func resolveSQLitePath(dir, dsn string) string {
	if dsn == "" || dir == "" || dir == "." || strings.Contains(dsn, "://") {
		return dsn
	}
	prefix, rest := "", dsn
	if strings.HasPrefix(rest, sqliteFileURIPrefix) {
		prefix, rest = sqliteFileURIPrefix, rest[len(sqliteFileURIPrefix):]
	}
	p, query, hasQuery := strings.Cut(rest, "?")
	if p == "" || p == sqliteMemoryPath || strings.HasPrefix(p, ":") || filepath.IsAbs(p) ||
		strings.Contains(query, sqliteMemoryModeParam) {
		return dsn
	}
	out := prefix + filepath.Join(dir, p)
	if hasQuery {
		out += "?" + query
	}
	return out
}
