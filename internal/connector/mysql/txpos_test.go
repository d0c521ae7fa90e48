package mysql

import (
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
)

// TestTxPositionBoundsTheTransaction checks the position a transaction's
// changes carry against the commit positions before and after it: the
// commit before it must compare lower, its own commit equal or higher.
func TestTxPositionBoundsTheTransaction(t *testing.T) {
	cases := []struct {
		name           string
		before, commit Position
		gtidMode       bool
		txID           string
	}{
		{"mariadb gtid", Position{GTID: true, Set: "0-1-19"}, Position{GTID: true, Set: "0-1-20"}, true, "0-1-20"},
		{"mariadb two domains", Position{GTID: true, Set: "0-1-19,1-2-7"}, Position{GTID: true, Set: "0-1-19,1-2-8"}, true, "1-2-8"},
		{"mariadb new domain", Position{GTID: true, Set: "0-1-19"}, Position{GTID: true, Set: "0-1-19,2-1-1"}, true, "2-1-1"},
		{"mysql gtid", Position{GTID: true, Set: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"},
			Position{GTID: true, Set: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6"}, true, "3e11fa47-71ca-11e1-9e33-c80aa9429562:6"},
		{"file", Position{File: "bin.000003", Offset: 1200}, Position{File: "bin.000003", Offset: 1900}, false, "bin.000003:1200"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := txPosition(c.before, c.gtidMode, c.txID)
			if got, err := comparePositions(c.before.Bytes(), p); err != nil || got >= 0 {
				t.Errorf("compare(before %s, tx %s) = %d, %v; want < 0", c.before, p, got, err)
			}
			if got, err := comparePositions(c.commit.Bytes(), p); err != nil || got < 0 {
				t.Errorf("compare(commit %s, tx %s) = %d, %v; want >= 0", c.commit, p, got, err)
			}
		})
	}
}

// TestGTIDCommitTime reads MySQL 8's microsecond commit time from a GTID
// event. No MySQL 8 server runs here (Debian ships MariaDB), so the event
// is built by hand with the fields go-mysql decodes from the wire.
func TestGTIDCommitTime(t *testing.T) {
	want := time.Date(2026, 11, 22, 10, 30, 15, 123456000, time.UTC)
	e := &replication.GTIDEvent{OriginalCommitTimestamp: uint64(want.UnixMicro()), ImmediateCommitTimestamp: uint64(want.UnixMicro()) + 500}
	if got := gtidCommitTime(e); !got.Equal(want) {
		t.Errorf("commit time %s, want the original %s", got, want)
	}
	if got := gtidCommitTime(&replication.GTIDEvent{}); !got.IsZero() {
		t.Errorf("an event without timestamps gave %s", got)
	}
}
