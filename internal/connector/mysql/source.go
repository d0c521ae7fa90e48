package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// binlogSource is the capture side of one flow with `capture: binlog`.
type binlogSource struct {
	s        *Store
	spec     connector.SourceSpec
	t        *table
	ks       *keyset
	serverID uint32
}

var _ connector.Source = (*binlogSource)(nil)

// newBinlogSource checks the table and key; it does not touch the binlog.
func newBinlogSource(ctx context.Context, s *Store, spec connector.SourceSpec) (*binlogSource, error) {
	t, err := s.describe(ctx, s.db, spec.Table)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	key, err := keyColumns(t.Table, spec.Key)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	spec.Key = key
	ks, err := s.newKeyset(t, key, spec.Columns)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	return &binlogSource{s: s, spec: spec, t: t, ks: ks, serverID: ServerID(spec.Flow)}, nil
}

// ServerID is the replica server id a flow's binlog stream registers with.
// Every replica of a server needs its own id (a second connection with the
// same id disconnects the first), so it is derived from the flow name: FNV-1a
// of the name, folded into [2^31, 2^31+2^30), a range kept clear of the
// small ids people give their real servers and replicas.
func ServerID(flow string) uint32 {
	h := fnv.New32a()
	h.Write([]byte("syncbridge/" + flow))
	return 1<<31 + h.Sum32()%(1<<30)
}

// Position returns the binlog's current end: the executed GTID set when
// GTIDs are usable (always on MariaDB: @@gtid_binlog_pos; on MySQL when
// gtid_mode is ON: @@gtid_executed), else the file and offset of SHOW MASTER
// STATUS.
//
// Backfill consistency: the engine takes this position before the backfill
// reads its first chunk and streams from it afterwards. Every change
// committed during the backfill is therefore streamed again after it; since
// apply is an idempotent upsert/delete by key in source commit order, the
// target converges to the source (rows read by the backfill at a newer
// version are overwritten by the replay and end at the newest version).
func (src *binlogSource) Position(ctx context.Context) (change.Position, error) {
	p, err := src.s.binlogPosition(ctx)
	if err != nil {
		return nil, fmt.Errorf("binlog position: %w", err)
	}
	return p.Bytes(), nil
}

func (s *Store) binlogPosition(ctx context.Context) (Position, error) {
	if s.flavor == flavorMariaDB {
		var pos string
		if err := s.db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
			return Position{}, err
		}
		return Position{GTID: true, Set: pos}, nil
	}
	var mode sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_mode").Scan(&mode); err == nil && mode.String == "ON" {
		var set string
		if err := s.db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_executed").Scan(&set); err != nil {
			return Position{}, err
		}
		return Position{GTID: true, Set: strings.ReplaceAll(strings.TrimSpace(set), "\n", "")}, nil
	}
	return s.masterStatus(ctx)
}

// masterStatus reads the current binlog file and offset. MySQL 8.4 renamed
// the statement to SHOW BINARY LOG STATUS.
func (s *Store) masterStatus(ctx context.Context) (Position, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		var err2 error
		if rows, err2 = s.db.QueryContext(ctx, "SHOW BINARY LOG STATUS"); err2 != nil {
			return Position{}, err
		}
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return Position{}, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Position{}, err
		}
		return Position{}, errors.New("the binary log is off (SHOW MASTER STATUS is empty): " +
			"start the server with log_bin (log-bin under [mysqld] in my.cnf) and restart it")
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return Position{}, err
	}
	off, err := strconv.ParseUint(string(raw[1]), 10, 32)
	if err != nil {
		return Position{}, fmt.Errorf("master status offset %q: %w", raw[1], err)
	}
	return Position{File: string(raw[0]), Offset: uint32(off)}, nil
}

// Snapshot reads one key-ordered backfill chunk.
func (src *binlogSource) Snapshot(ctx context.Context, after change.Key, limit int) ([]change.Change, error) {
	return src.s.snapshot(ctx, src.ks, src.spec.Flow, after, limit)
}

// Compare orders two positions; see comparePositions.
func (src *binlogSource) Compare(a, b change.Position) (int, error) {
	return comparePositions(a, b)
}

// Stream opens the binlog after from (the current end when from is nil).
func (src *binlogSource) Stream(ctx context.Context, from change.Position) (connector.Stream, error) {
	var (
		p   Position
		err error
	)
	if from == nil {
		p, err = src.s.binlogPosition(ctx)
	} else {
		p, err = ParsePosition(from)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %q: %w", src.spec.Table, err)
	}
	st, err := openStream(ctx, src, p)
	if errors.Is(err, connector.ErrPositionLost) {
		return nil, fmt.Errorf("stream %q from %s: %w; changes since the checkpoint are gone: re-backfill the flow "+
			"with `syncbridge reset --flow %s --yes` then `syncbridge run`, and keep binlogs longer "+
			"(binlog_expire_logs_seconds / expire_logs_days)", src.spec.Table, p, err, src.spec.Flow)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %q from %s: %w", src.spec.Table, p, err)
	}
	return st, nil
}
