package mysql

import (
	"strconv"
	"strings"

	gtid "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/syncbridge/syncbridge/internal/change"
)

// txPosition is the Position the changes of a transaction carry: one that
// every position at or after the transaction's commit reaches and no
// position before the transaction does. With GTIDs it is the commit
// position itself (the set before the transaction plus its GTID); with
// file positions, where the commit offset is not known before the commit
// event, it is one byte past the transaction's start. Flows ordered by
// `after:` compare it with other flows' commit positions (see
// internal/engine/order.go); the position before the transaction, which
// changes carried before, is reached by the previous commit already.
func txPosition(before Position, gtidMode bool, txID string) change.Position {
	if !gtidMode {
		return Position{File: before.File, Offset: before.Offset + 1}.Bytes()
	}
	set, ok := addGTID(before.Set, txID)
	if !ok {
		return Position{File: before.File, Offset: before.Offset + 1}.Bytes()
	}
	return Position{GTID: true, Set: set}.Bytes()
}

// addGTID returns the GTID set text set with one more transaction, id
// ("domain-server-sequence" on MariaDB, "uuid:n" on MySQL).
func addGTID(set, id string) (string, bool) {
	if strings.Contains(id, ":") {
		s, err := gtid.ParseMysqlGTIDSet(set)
		if err != nil || s.Update(id) != nil {
			return "", false
		}
		return s.String(), true
	}
	f := strings.Split(id, "-")
	if len(f) != 3 {
		return "", false
	}
	if _, err := strconv.ParseUint(f[2], 10, 64); err != nil {
		return "", false
	}
	var parts []string
	replaced := false
	for _, p := range strings.Split(set, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if d, _, ok := strings.Cut(p, "-"); ok && d == f[0] {
			p, replaced = id, true
		}
		parts = append(parts, p)
	}
	if !replaced {
		parts = append(parts, id)
	}
	return strings.Join(parts, ","), true
}
