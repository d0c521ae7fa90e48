package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/syncbridge/syncbridge/internal/connector"
)

// CheckCapture tells, without writing, whether the flow's capture mode can
// work on its table. Every problem found is reported, each naming the
// setting and the fix.
func (s *Store) CheckCapture(ctx context.Context, spec connector.SourceSpec) error {
	c := s.captureOf(spec.Capture)
	if c != connector.CaptureBinlog && c != connector.CapturePoll && c != connector.CaptureTrigger {
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
		s.recommendRowMetadata(ctx, spec)
	case connector.CaptureTrigger:
		problems = append(problems, s.checkTrigger(ctx, spec)...)
	}
	return errors.Join(problems...)
}

// recommendRowMetadata logs a warning (a recommendation, not a problem)
// when the binlog does not name columns. Checks only return problems, so
// it goes to the store's log, which `validate` and `run` print.
func (s *Store) recommendRowMetadata(ctx context.Context, spec connector.SourceSpec) {
	var meta sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_row_metadata").Scan(&meta); err != nil {
		return // older servers have no such setting
	}
	if !strings.EqualFold(meta.String, "FULL") {
		s.log.Warn("SET GLOBAL binlog_row_metadata = FULL (and in my.cnf): without it a DDL that keeps the column count cannot be detected",
			"store", s.name, "flow", spec.Flow, "table", spec.Table, "binlog_row_metadata", meta.String)
	}
}

// checkTrigger checks what Prepare of trigger capture needs: a server with
// SKIP LOCKED, the TRIGGER privilege on the table, CREATE and DML on its
// database (for the _syncbridge_ tables the triggers write, as the
// syncbridge user: triggers run with their definer's rights), and, with the
// binary log on, SUPER or log_bin_trust_function_creators.
func (s *Store) checkTrigger(ctx context.Context, spec connector.SourceSpec) []error {
	var out []error
	if s.flavor == flavorMariaDB && !versionAtLeast(s.version, 10, 6) || s.flavor == flavorMySQL && !versionAtLeast(s.version, 8, 0, 1) {
		out = append(out, fmt.Errorf("capture: trigger needs MariaDB 10.6 or MySQL 8.0 (SELECT ... SKIP LOCKED), but the server is %s: "+
			"upgrade it, or use capture: binlog or poll", s.version))
	}
	grants, err := s.grants(ctx)
	if err != nil {
		return append(out, fmt.Errorf("capture: trigger: read grants: %w", err))
	}
	schema, name := s.splitTable(spec.Table)
	user := "'" + s.cfg.User + "'@'<host>'"
	if !grants.has("TRIGGER", schema, name) {
		out = append(out, fmt.Errorf("capture: trigger: user %q lacks the TRIGGER privilege on %s: run GRANT TRIGGER ON %s TO %s",
			s.cfg.User, s.quoteTable(spec.Table), s.quoteTable(spec.Table), user))
	}
	var missing []string
	for _, p := range []string{"CREATE", "SELECT", "INSERT", "UPDATE", "DELETE"} {
		if !grants.has(p, schema, "") {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Errorf("capture: trigger: user %q lacks %s on database %s (for the %s, %s and %s tables): run GRANT %s ON %s.* TO %s",
			s.cfg.User, strings.Join(missing, ", "), quoteIdent(schema), logTable, cursorTable, writerTable,
			strings.Join(missing, ", "), quoteIdent(schema), user))
	}
	var logBin, trust string
	if err := s.db.QueryRowContext(ctx, "SELECT @@GLOBAL.log_bin, @@GLOBAL.log_bin_trust_function_creators").Scan(&logBin, &trust); err != nil {
		return append(out, fmt.Errorf("capture: trigger: read server settings: %w", err))
	}
	on := func(v string) bool { return v == "1" || strings.EqualFold(v, "ON") }
	if on(logBin) && !on(trust) && !grants.has("SUPER", "", "") {
		out = append(out, fmt.Errorf("capture: trigger: the binary log is on, so creating triggers needs SUPER or log_bin_trust_function_creators=1, "+
			"and user %q has no SUPER: run SET GLOBAL log_bin_trust_function_creators = 1 and add log_bin_trust_function_creators=1 "+
			"under [mysqld] in my.cnf (or GRANT SUPER ON *.* TO %s)", s.cfg.User, user))
	}
	return out
}

// grantList is the current user's SHOW GRANTS.
type grantList []string

func (s *Store) grants(ctx context.Context) (grantList, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out grantList
	for rows.Next() {
		var g sql.NullString
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		out = append(out, g.String)
	}
	return out, rows.Err()
}

// has reports whether a grant gives priv on the table (name), the
// database (name ""), or globally (schema ""): ALL PRIVILEGES counts.
func (gl grantList) has(priv, schema, name string) bool {
	scopes := []string{"*.*"}
	if schema != "" {
		db := quoteIdent(schema)
		scopes = append(scopes, db+".*", quoteIdent(strings.ReplaceAll(schema, "_", `\_`))+".*")
		if name != "" {
			scopes = append(scopes, db+"."+quoteIdent(name))
		}
	}
	for _, g := range gl {
		privs, rest, ok := strings.Cut(strings.TrimPrefix(g, "GRANT "), " ON ")
		if !ok {
			continue
		}
		scope, _, _ := strings.Cut(rest, " TO ")
		if !slices.Contains(scopes, strings.TrimSpace(scope)) {
			continue
		}
		for _, p := range strings.Split(privs, ",") {
			p = strings.ToUpper(strings.TrimSpace(p))
			if p == priv || p == "ALL PRIVILEGES" || p == "ALL" {
				return true
			}
		}
	}
	return false
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
