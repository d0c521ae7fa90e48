package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// CheckCapture tells, without writing, whether the flow's capture mode can
// work on its table. Every problem found is reported, each naming the
// setting and the fix.
func (s *Store) CheckCapture(ctx context.Context, spec connector.SourceSpec) error {
	c := s.captureOf(spec.Capture)
	if c != connector.CaptureBinlog && c != connector.CapturePoll {
		return unsupportedCapture(c)
	}
	t, err := s.Describe(ctx, spec.Table)
	if err != nil {
		return err
	}
	var problems []error
	if _, err := keyColumns(t, spec.Key); err != nil {
		problems = append(problems, fmt.Errorf("capture: %s: %w", c, err))
	}
	switch c {
	case connector.CapturePoll:
		if spec.Poll.Column == "" {
			problems = append(problems, fmt.Errorf("capture: poll of %q needs poll.column (an updated_at or version column)", spec.Table))
		} else if _, ok := t.Column(spec.Poll.Column); !ok {
			problems = append(problems, fmt.Errorf("capture: poll column %q does not exist in table %q", spec.Poll.Column, spec.Table))
		}
	case connector.CaptureBinlog:
		problems = append(problems, s.checkBinlog(ctx, spec)...)
	}
	return errors.Join(problems...)
}

// checkBinlog checks the server settings and privileges binlog capture
// needs.
func (s *Store) checkBinlog(ctx context.Context, spec connector.SourceSpec) []error {
	var (
		logBin, format, image string
		serverID              int64
	)
	err := s.db.QueryRowContext(ctx,
		"SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image, @@GLOBAL.server_id").
		Scan(&logBin, &format, &image, &serverID)
	if err != nil {
		return []error{fmt.Errorf("capture: binlog: read server settings: %w", err)}
	}
	var out []error
	if logBin != "1" && !strings.EqualFold(logBin, "ON") {
		out = append(out, errors.New("capture: binlog needs the binary log, but log_bin is OFF: "+
			"add log-bin=mysql-bin under [mysqld] in my.cnf and restart the server (it cannot be set at run time)"))
	}
	if !strings.EqualFold(format, "ROW") {
		out = append(out, fmt.Errorf("capture: binlog needs binlog_format=ROW, but it is %s: "+
			"run SET GLOBAL binlog_format = 'ROW' and add binlog_format=ROW under [mysqld] in my.cnf "+
			"(sessions already open keep the old format until they reconnect)", format))
	}
	if !strings.EqualFold(image, "FULL") {
		out = append(out, fmt.Errorf("capture: binlog needs binlog_row_image=FULL, but it is %s: "+
			"run SET GLOBAL binlog_row_image = 'FULL' and add binlog_row_image=FULL under [mysqld] in my.cnf", image))
	}
	if serverID == 0 {
		out = append(out, errors.New("capture: binlog needs a server with a server_id, but server_id is 0: "+
			"add server-id=1 under [mysqld] in my.cnf and restart the server"))
	} else if id := ServerID(spec.Flow); int64(id) == serverID {
		out = append(out, fmt.Errorf("capture: binlog: flow %q would register as replica server id %d, "+
			"which is the server's own server_id: rename the flow or change server_id", spec.Flow, id))
	}
	if err := s.checkReplicationGrants(ctx); err != nil {
		out = append(out, err)
	}
	return out
}

// checkReplicationGrants looks for REPLICATION SLAVE and REPLICATION CLIENT
// (or what covers them: ALL PRIVILEGES, SUPER, MariaDB's BINLOG MONITOR) on
// *.* in the current user's grants.
func (s *Store) checkReplicationGrants(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return fmt.Errorf("capture: binlog: read grants: %w", err)
	}
	defer rows.Close()
	var all, slave, client bool
	for rows.Next() {
		var g sql.NullString
		if err := rows.Scan(&g); err != nil {
			return fmt.Errorf("capture: binlog: read grants: %w", err)
		}
		up := strings.ToUpper(g.String)
		if !strings.Contains(up, " ON *.* ") {
			continue
		}
		all = all || strings.Contains(up, "ALL PRIVILEGES")
		slave = slave || strings.Contains(up, "REPLICATION SLAVE") || strings.Contains(up, "REPLICATION REPLICA")
		client = client || strings.Contains(up, "REPLICATION CLIENT") || strings.Contains(up, "SUPER") ||
			strings.Contains(up, "BINLOG MONITOR")
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("capture: binlog: read grants: %w", err)
	}
	if all || (slave && client) {
		return nil
	}
	var missing []string
	if !slave {
		missing = append(missing, "REPLICATION SLAVE")
	}
	if !client {
		missing = append(missing, "REPLICATION CLIENT")
	}
	return fmt.Errorf("capture: binlog: user %q lacks %s: run GRANT %s ON *.* TO '%s'@'<host>'",
		s.cfg.User, strings.Join(missing, " and "), strings.Join(missing, ", "), s.cfg.User)
}
