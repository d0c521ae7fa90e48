package mysql_test

import (
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/mysql"
)

// TestTemporalBinlogEqualsSnapshot: DATETIME and TIMESTAMP values decoded
// from the binlog (as times, for years from 1970; as text before) equal
// the ones read by SQL, at every precision, in the DSN's loc (a zone with
// daylight saving time) as in UTC.
func TestTemporalBinlogEqualsSnapshot(t *testing.T) {
	for _, loc := range []string{"", "Europe/Paris"} {
		t.Run("loc="+loc, func(t *testing.T) {
			e := newEnv(t)
			ctx := ctxT(t)
			dsn := e.dsn
			if loc != "" {
				sep := "?"
				if strings.Contains(dsn, "?") {
					sep = "&"
				}
				dsn += sep + "loc=" + url.QueryEscape(loc)
			}
			st, err := mysql.Driver{}.Open(ctx, connector.StoreConfig{Name: "my", Driver: "mysql", DSN: dsn,
				Capture: connector.CaptureBinlog}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			e.exec("CREATE TABLE tt (id INT PRIMARY KEY, dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6), ts0 TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL)")
			src, err := st.Source(ctx, connector.SourceSpec{Flow: "tt", Table: "tt", Key: []string{"id"}})
			if err != nil {
				t.Fatal(err)
			}
			from, err := src.Position(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rows := []string{
				"(1, '2024-05-06 07:08:09', '2024-05-06 07:08:09.123', '2024-05-06 07:08:09.123456', '2024-05-06 07:08:09', '2024-05-06 07:08:09.000001')",
				"(2, '1969-12-31 23:59:59', '1900-01-01 00:00:00.999', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01', '1970-01-01 00:00:01.5')",
				"(3, '9999-12-31 23:59:59', '1970-01-01 00:00:00.001', '2024-03-31 02:30:00.5', '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999')",
				"(4, '2024-10-27 02:30:00', '2024-10-27 02:30:00.25', '1970-01-01 00:00:00.000000', NULL, NULL)",
			}
			for _, r := range rows {
				e.exec("INSERT INTO tt VALUES " + r)
			}
			snap, err := src.Snapshot(ctx, nil, 10)
			if err != nil || len(snap) != len(rows) {
				t.Fatalf("snapshot: %d rows, %v", len(snap), err)
			}
			s, err := src.Stream(ctx, from)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []change.Change
			for len(got) < len(rows) {
				b, err := s.Next(ctx, 10)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, b.Changes...)
				if b.CaughtUp {
					break
				}
			}
			if len(got) != len(rows) {
				t.Fatalf("stream: %d changes, want %d", len(got), len(rows))
			}
			for i, c := range got {
				for _, col := range []string{"dt0", "dt3", "dt6", "ts0", "ts6"} {
					b, w := c.After[col], snap[i].After[col]
					if b.Kind != w.Kind || b.String() != w.String() {
						t.Errorf("row %d %s: binlog %s %s, SQL %s %s", i+1, col, b.Kind, b, w.Kind, w)
					}
				}
			}
		})
	}
}
