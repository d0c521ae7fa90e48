package mysql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	gtid "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Position encodings. A new layout gets a new version; ParsePosition keeps
// reading every old one (testdata/positions.golden).
const (
	gtidPrefix = "mysql-gtid:v1:" // + GTID set: MariaDB "0-1-42,1-2-7", MySQL "uuid:1-42"
	filePrefix = "mysql-file:v1:" // + file ":" offset
	logPrefix  = "mysql-log:v1:"  // + trigger-log id (capture: trigger)
)

// Position is a transaction boundary in a server's binlog: after the
// transaction that ends there, streaming resumes with the next one.
//
// With GTIDs it is the set of transactions executed (MariaDB: the last GTID
// per replication domain, as @@gtid_binlog_pos; MySQL: @@gtid_executed).
// Otherwise it is a binlog file and the offset just past the commit event.
//
// Trigger capture (Log) has its own kind: the id of the last
// _syncbridge_log row covered; every row up to it is final (see
// logstream.go), and streaming resumes with the next greater id.
type Position struct {
	GTID   bool
	Set    string // the GTID set's text, when GTID
	File   string // binlog file name, e.g. "mariadb-bin.000003"
	Offset uint32
	Log    bool  // a trigger-log position
	LogID  int64 // when Log: the last log id covered (0 = the log's start)
}

// logPosition is the trigger-log position after log id id.
func logPosition(id int64) Position { return Position{Log: true, LogID: id} }

// Bytes encodes p as an opaque change.Position.
func (p Position) Bytes() change.Position { return change.Position(p.String()) }

func (p Position) String() string {
	if p.Log {
		return logPrefix + strconv.FormatInt(p.LogID, 10)
	}
	if p.GTID {
		return gtidPrefix + p.Set
	}
	return filePrefix + p.File + ":" + strconv.FormatUint(uint64(p.Offset), 10)
}

// ParsePosition decodes a change.Position written by Bytes.
func ParsePosition(b change.Position) (Position, error) {
	s := string(b)
	if rest, ok := strings.CutPrefix(s, gtidPrefix); ok {
		if _, err := parseGTIDSet(rest); err != nil {
			return Position{}, fmt.Errorf("position %q: %w", s, err)
		}
		return Position{GTID: true, Set: rest}, nil
	}
	if rest, ok := strings.CutPrefix(s, logPrefix); ok {
		id, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || id < 0 || rest != strconv.FormatInt(id, 10) {
			return Position{}, fmt.Errorf("position %q: want %s<log id>", s, logPrefix)
		}
		return logPosition(id), nil
	}
	if rest, ok := strings.CutPrefix(s, filePrefix); ok {
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 {
			return Position{}, fmt.Errorf("position %q: want %s<file>:<offset>", s, filePrefix)
		}
		off, err := strconv.ParseUint(rest[i+1:], 10, 32)
		if err != nil {
			return Position{}, fmt.Errorf("position %q: offset: %w", s, err)
		}
		return Position{File: rest[:i], Offset: uint32(off)}, nil
	}
	return Position{}, fmt.Errorf("position %q: not a mysql position (want %s<gtid set>, %s<file>:<offset> or %s<log id>)",
		s, gtidPrefix, filePrefix, logPrefix)
}

// gtidSet is a parsed GTID set: MariaDB's (one sequence number per
// replication domain) or MySQL's (intervals per server UUID).
type gtidSet struct {
	maria map[uint32]uint64 // domain -> highest sequence number
	mysql gtid.GTIDSet      // nil for MariaDB sets
}

// parseGTIDSet reads either flavor's text: MySQL sets name server UUIDs
// followed by ':', MariaDB GTIDs are domain-server-sequence triples.
func parseGTIDSet(s string) (gtidSet, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ":") {
		set, err := gtid.ParseMysqlGTIDSet(s)
		if err != nil {
			return gtidSet{}, err
		}
		return gtidSet{mysql: set}, nil
	}
	out := gtidSet{maria: map[uint32]uint64{}}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), "-")
		if len(f) != 3 {
			return gtidSet{}, fmt.Errorf("gtid %q: want domain-server-sequence", part)
		}
		dom, err1 := strconv.ParseUint(f[0], 10, 32)
		_, err2 := strconv.ParseUint(f[1], 10, 32)
		seq, err3 := strconv.ParseUint(f[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return gtidSet{}, fmt.Errorf("gtid %q: %w", part, err)
		}
		out.maria[uint32(dom)] = max(out.maria[uint32(dom)], seq)
	}
	return out, nil
}

// errIncomparable is returned for positions that are not ordered: GTID
// sets from diverged histories, or a GTID position against a file one.
var errIncomparable = errors.New("positions are not comparable")

// comparePositions orders two positions.
//
// Trigger-log positions order by log id, and are not comparable with binlog
// ones. File positions order by the binlog file's sequence number, then offset.
// MariaDB GTID positions compare per domain by sequence number (a missing
// domain counts as 0); MySQL GTID sets by inclusion. Within one MariaDB
// domain sequence numbers grow in commit order across server ids, so a
// single-domain server (the default) is totally ordered. Sets that are
// ahead in one domain and behind in another, or MySQL sets where neither
// contains the other, come from diverged histories (a failover that lost
// transactions, multi-source replication) and yield errIncomparable.
func comparePositions(a, b change.Position) (int, error) {
	pa, pb, err := connector.ParseBoth(ParsePosition, a, b)
	if err != nil {
		return 0, err
	}
	if pa.Log != pb.Log || pa.GTID != pb.GTID {
		return 0, fmt.Errorf("%w: %s and %s", errIncomparable, pa, pb)
	}
	if pa.Log {
		return cmpInt(pa.LogID, pb.LogID), nil
	}
	if !pa.GTID {
		return compareFiles(pa, pb), nil
	}
	sa, _ := parseGTIDSet(pa.Set)
	sb, _ := parseGTIDSet(pb.Set)
	c, ok := compareSets(sa, sb)
	if !ok {
		return 0, fmt.Errorf("%w: %s and %s", errIncomparable, pa, pb)
	}
	return c, nil
}

func compareFiles(a, b Position) int {
	ia, ib := fileIndex(a.File), fileIndex(b.File)
	switch {
	case ia != ib:
		return cmpInt(ia, ib)
	case a.File != b.File:
		return strings.Compare(a.File, b.File)
	}
	return cmpInt(int64(a.Offset), int64(b.Offset))
}

// fileIndex is the numeric suffix of "mariadb-bin.000042".
func fileIndex(name string) int64 {
	i := strings.LastIndexByte(name, '.')
	n, err := strconv.ParseInt(name[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareSets(a, b gtidSet) (int, bool) {
	if a.mysql != nil || b.mysql != nil {
		if a.mysql == nil && len(a.maria) == 0 {
			a.mysql, _ = gtid.ParseMysqlGTIDSet("")
		}
		if b.mysql == nil && len(b.maria) == 0 {
			b.mysql, _ = gtid.ParseMysqlGTIDSet("")
		}
		if a.mysql == nil || b.mysql == nil {
			return 0, false
		}
		switch {
		case a.mysql.Equal(b.mysql):
			return 0, true
		case b.mysql.Contain(a.mysql):
			return -1, true
		case a.mysql.Contain(b.mysql):
			return 1, true
		}
		return 0, false
	}
	less, more := false, false
	for d, sa := range a.maria {
		sb := b.maria[d]
		less, more = less || sa < sb, more || sa > sb
	}
	for d, sb := range b.maria {
		if _, ok := a.maria[d]; !ok && sb > 0 {
			less = true
		}
	}
	switch {
	case less && more:
		return 0, false
	case less:
		return -1, true
	case more:
		return 1, true
	}
	return 0, true
}
