package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// copyFormat is the bulk format of the driver: COPY's text format, each
// value as the column type's output function prints it under the pinned
// session settings (see sessionParams), which its input function reads
// back exactly.
const copyFormat = "postgres-text"

var (
	_ connector.CopySource = (*LogicalSource)(nil)
	_ connector.CopySink   = (*Sink)(nil)
	_ connector.CopyTx     = (*sinkTx)(nil)
)

// CopyFormat is "postgres-text".
func (src *LogicalSource) CopyFormat() string { return copyFormat }

// CopyChunk writes up to limit rows after the key after, in key order,
// every column in table order, as COPY text. See connector.CopySource.
func (src *LogicalSource) CopyChunk(ctx context.Context, after change.Key, limit int, w io.Writer) (change.Key, int, error) {
	return copyChunk(ctx, src.store, src.tbl, src.key, after, limit, w)
}

// copyChunk runs the keyset query with text results and writes the raw
// text of each value, COPY-escaped, without decoding it: the bytes are what
// COPY ... TO STDOUT would print. (COPY itself takes no bind parameters, and
// key values are never spliced into SQL.) Only the last row's key is
// decoded, for the checkpoint.
func copyChunk(ctx context.Context, s *Store, tbl *table, key []string, after change.Key, limit int, w io.Writer) (change.Key, int, error) {
	cols := make([]string, len(tbl.cols))
	for i, c := range tbl.cols {
		cols[i] = c.name
	}
	q := keysetQuery{table: tbl.ident(), key: key, cols: cols}
	if after != nil && len(after) != len(key) {
		return nil, 0, fmt.Errorf("store %q: copy %s: key %v has %d values, the key has %d columns", s.name, tbl.qualified(), after, len(after), len(key))
	}
	keyAt := make([]int, len(key))
	keyTypes := make([]*pgType, len(key))
	for i, k := range key {
		keyAt[i] = -1
		for j, c := range tbl.cols {
			if c.name == k {
				keyAt[i], keyTypes[i] = j, c.typ
			}
		}
	}
	args := make([]any, 0, len(after)+2)
	args = append(args, pgx.QueryResultFormats{pgx.TextFormatCode})
	for _, v := range after {
		args = append(args, textArg(v))
	}
	args = append(args, strconv.Itoa(limit))
	rows, err := s.pool.Query(ctx, q.sql(after != nil, false), args...)
	if err != nil {
		return nil, 0, s.wrapErr(fmt.Errorf("store %q: copy %s: %w", s.name, tbl.qualified(), err))
	}
	defer rows.Close()
	var (
		buf     []byte
		lastKey = make([][]byte, len(key))
		n       int
	)
	for rows.Next() {
		raw := rows.RawValues()
		buf = appendCopyRow(buf[:0], raw)
		if _, err := w.Write(buf); err != nil {
			return nil, n, err
		}
		for i, at := range keyAt {
			lastKey[i] = append(lastKey[i][:0], raw[at]...)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, n, s.wrapErr(fmt.Errorf("store %q: copy %s: %w", s.name, tbl.qualified(), err))
	}
	if n == 0 {
		return nil, 0, nil
	}
	last := make(change.Key, len(key))
	for i, b := range lastKey {
		if last[i], err = decodeText(keyTypes[i], string(b)); err != nil {
			return nil, n, fmt.Errorf("store %q: copy %s: key column %q: %w", s.name, tbl.qualified(), key[i], err)
		}
	}
	return last, n, nil
}

// appendCopyRow appends one COPY text row: tab-separated values, \N for
// NULL, backslash escapes for the characters COPY gives a meaning to.
func appendCopyRow(dst []byte, values [][]byte) []byte {
	for i, v := range values {
		if i > 0 {
			dst = append(dst, '\t')
		}
		if v == nil {
			dst = append(dst, `\N`...)
			continue
		}
		dst = appendCopyText(dst, v)
	}
	return append(dst, '\n')
}

// appendCopyText appends text with COPY's escapes.
func appendCopyText(dst, text []byte) []byte {
	start := 0
	for j, ch := range text {
		var esc string
		switch ch {
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		default:
			continue
		}
		dst = append(dst, text[start:j]...)
		dst = append(dst, esc...)
		start = j + 1
	}
	return append(dst, text[start:]...)
}

// CopyFormat is "postgres-text".
func (k *Sink) CopyFormat() string { return copyFormat }

// CopyUpsert writes COPY text rows as upserts: straight into the table
// while no key has been met that the table already had, through the
// staging table after that (see copyRows). See connector.CopyTx.
func (tx *sinkTx) CopyUpsert(ctx context.Context, data []byte, cols []string) error {
	if tx.done || tx.broken {
		return errors.New("copy: transaction is finished or unusable")
	}
	for _, c := range cols {
		if _, ok := tx.sink.tg.types[c]; !ok {
			return fmt.Errorf("copy into %s: column %q does not exist or cannot be written", tx.sink.tbl.qualified(), c)
		}
	}
	conflict, err := tx.copyRows(ctx, data, cols, !tx.sink.copyConflicts.Load())
	if conflict {
		tx.sink.copyConflicts.Store(true)
	}
	if err != nil {
		return tx.fail(err)
	}
	return nil
}

// copyRows writes COPY text rows holding cols as upserts. With direct it
// first COPYs them straight into the table under a savepoint: rows of new
// keys (a backfill, a transaction of inserts) need nothing more, and that
// is as fast as COPY gets. When a key is already there the savepoint is
// rolled back (conflict is then true) and the rows go through the staging
// table and INSERT ... ON CONFLICT, as they do without direct. Errors are
// the server's, unwrapped, for the caller's savepoint handling.
func (tx *sinkTx) copyRows(ctx context.Context, data []byte, cols []string, direct bool) (conflict bool, err error) {
	if len(data) == 0 {
		return false, nil
	}
	tg := tx.sink.tg
	pg := tx.conn.Conn().PgConn()
	if direct {
		if err := tx.exec(ctx, "SAVEPOINT syncbridge_copy"); err != nil {
			return false, err
		}
		_, err := pg.CopyFrom(ctx, bytes.NewReader(data), "COPY "+tg.ident+" ("+quoteList(cols)+") FROM STDIN")
		if err == nil {
			return false, tx.exec(ctx, "RELEASE SAVEPOINT syncbridge_copy")
		}
		if pe, ok := errorsAsPg(err); !ok || pe.Code != "23505" {
			return false, err
		}
		conflict = true
		if err := tx.exec(ctx, "ROLLBACK TO SAVEPOINT syncbridge_copy"); err != nil {
			return conflict, err
		}
		if err := tx.exec(ctx, "RELEASE SAVEPOINT syncbridge_copy"); err != nil {
			return conflict, err
		}
	}
	if !tx.staged {
		if err := tx.exec(ctx, tg.createStage()); err != nil {
			return conflict, err
		}
		tx.staged = true
	}
	if _, err := pg.CopyFrom(ctx, bytes.NewReader(data), tg.copyStage(cols)); err != nil {
		return conflict, err
	}
	b := &pgx.Batch{}
	b.Queue(tg.upsertFromStage(cols))
	b.Queue(tg.clearStage())
	return conflict, tx.flush(ctx, b)
}
