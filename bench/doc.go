// Package bench holds benchmarks that compare syncbridge with the raw limit
// of the same machine in the same run: a psql COPY pipe for backfill,
// pg_recvlogical for change decoding. They start throw-away PostgreSQL
// clusters through internal/testenv. See docs/benchmarks.md for the figures
// and the commands.
package bench
