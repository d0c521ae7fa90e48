package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLiteStore is the state store in one SQLite file: the default, needing no
// setup. Several processes may open the same file at once (a `run` and a
// `status`, say): it is in WAL mode, so readers never block the writer, and
// writers wait for each other up to sqliteBusyTimeoutMS instead of failing.
type SQLiteStore struct {
	sqlStore
	path string
}

var _ Store = (*SQLiteStore)(nil)

// sqliteBusyTimeoutMS is how long a statement waits for another
// connection's (or process's) write lock before it fails with SQLITE_BUSY.
// State writes are short, so reaching it means something is stuck.
const sqliteBusyTimeoutMS = 10000

// sqliteNow is the current time in unix microseconds. SQLite's clock has
// millisecond resolution, which is ample for lease expiry.
const sqliteNow = `CAST(unixepoch('now', 'subsec') * 1000000 AS INTEGER)`

// sqlitePragmas apply to every connection the pool opens.
//
//   - journal_mode(WAL): readers and one writer run concurrently, across
//     processes too.
//   - synchronous(FULL): a parked change must survive a power loss, because
//     the sink may already have checkpointed past it (NORMAL, the usual WAL
//     setting, can lose the last commits).
//   - foreign_keys(1): on in case later migrations rely on them.
//   - _txlock=immediate: transactions take the write lock at BEGIN, where
//     the busy timeout applies, rather than at their first write, where a
//     WAL reader that cannot upgrade fails at once with SQLITE_BUSY.
var sqlitePragmas = url.Values{
	"_pragma": {
		fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS),
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"foreign_keys(1)",
	},
	"_txlock": {"immediate"},
}

// OpenSQLite opens the state file at path, creating it when missing (its
// directory must exist), and brings its schema up to date.
func OpenSQLite(ctx context.Context, path string) (*SQLiteStore, error) {
	if path == "" {
		return nil, errors.New("open state: path is empty")
	}
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open state %q: %w", path, err)
	}
	// Ping opens the first connection, which creates the file and switches
	// it to WAL: a missing directory or an unwritable file is reported here,
	// naming the path, rather than as a migration error.
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %q: %w", path, err)
	}
	if err := migrate(ctx, db, goose.DialectSQLite3, "migrations"); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate state %q: %w", path, err)
	}
	return &SQLiteStore{sqlStore: sqlStore{db: db, nowMicros: sqliteNow}, path: path}, nil
}

// Path returns the file the store was opened on.
func (s *SQLiteStore) Path() string { return s.path }

// sqliteDSN turns a file path into a SQLite URI carrying sqlitePragmas. The
// URI form lets any path be used: '?', '#' and '%' in it are escaped, where
// a plain path would be cut at its first '?'.
func sqliteDSN(path string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(filepath.Clean(path))
	return "file:" + escaped + "?" + sqlitePragmas.Encode()
}
