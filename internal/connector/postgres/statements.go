package postgres

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
)

// maxParams is the protocol's limit of bind parameters per statement.
const maxParams = 65535

// maxRowsPerStatement caps a multi-row statement. Row counts are rounded
// down to powers of two (see statementSizes) so that a handful of statement
// shapes per column set stay prepared on each connection.
const maxRowsPerStatement = 1024

// target is the SQL text of one sink table. Identifiers are quoted with
// pgx.Identifier; values are always bind parameters (or COPY data).
type target struct {
	ident    string            // quoted, qualified table
	key      []string          // key columns
	cols     []string          // writable columns in table order (generated ones excluded)
	override bool              // an identity column GENERATED ALWAYS: inserts say OVERRIDING SYSTEM VALUE
	identity map[string]bool   // identity columns GENERATED ALWAYS: inserted, never updated
	types    map[string]string // declared type of each column, for array casts
	arrays   map[string]bool   // columns of array types
	stage    string            // quoted name of the temp staging table for COPY
}

func newTarget(t *table, key []string) *target {
	tg := &target{ident: t.ident(), key: key, identity: map[string]bool{}, types: map[string]string{}, arrays: map[string]bool{}}
	for _, c := range t.cols {
		if c.generated {
			continue
		}
		tg.types[c.name] = c.declared
		tg.arrays[c.name] = c.typ.kind == change.KindArray
		tg.cols = append(tg.cols, c.name)
		if c.identity {
			tg.override, tg.identity[c.name] = true, true
		}
	}
	sum := sha256.Sum256([]byte(tg.ident))
	tg.stage = pgx.Identifier{"pg_temp", "syncbridge_stage_" + hex.EncodeToString(sum[:6])}.Sanitize()
	return tg
}

// insertHead is "INSERT INTO t (c1, c2) [OVERRIDING SYSTEM VALUE] ".
func (tg *target) insertHead(cols []string) string {
	s := "INSERT INTO " + tg.ident + " (" + quoteList(cols) + ") "
	if tg.override {
		s += "OVERRIDING SYSTEM VALUE "
	}
	return s
}

// onConflict is the upsert tail: the columns given are updated, the others
// keep their values. Identity columns GENERATED ALWAYS cannot be updated
// (only inserted with OVERRIDING SYSTEM VALUE), so they keep theirs too.
func (tg *target) onConflict(cols []string) string {
	var sets []string
	for _, c := range cols {
		if !contains(tg.key, c) && !tg.identity[c] {
			q := pgx.Identifier{c}.Sanitize()
			sets = append(sets, q+" = EXCLUDED."+q)
		}
	}
	s := " ON CONFLICT (" + quoteList(tg.key) + ") DO "
	if len(sets) == 0 {
		return s + "NOTHING"
	}
	return s + "UPDATE SET " + strings.Join(sets, ", ")
}

// upsertValues is a multi-row INSERT ... VALUES ... ON CONFLICT of rows rows.
func (tg *target) upsertValues(cols []string, rows int) string {
	var b strings.Builder
	b.WriteString(tg.insertHead(cols))
	b.WriteString("VALUES ")
	n := 0
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for i := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			n++
			b.WriteString("$" + strconv.Itoa(n))
		}
		b.WriteString(")")
	}
	b.WriteString(tg.onConflict(cols))
	return b.String()
}

// deleteKeys is DELETE ... WHERE (k1, k2) IN (($1, $2), ...) for n keys.
func (tg *target) deleteKeys(n int) string {
	var b strings.Builder
	b.WriteString("DELETE FROM " + tg.ident + " WHERE " + rowExpr(tg.key) + " IN (")
	p := 0
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(paramRow(&p, len(tg.key)))
	}
	b.WriteString(")")
	return b.String()
}

// upsertUnnest is INSERT ... SELECT * FROM unnest($1::t1[], ...) ON
// CONFLICT: one parameter per column, an array literal of all the rows.
func (tg *target) upsertUnnest(cols []string) string {
	return tg.insertHead(cols) + "SELECT * FROM unnest(" + tg.arrayParams(cols) + ")" + tg.onConflict(cols)
}

// deleteUnnest is DELETE ... WHERE (k1, k2) IN (SELECT * FROM unnest(...)).
func (tg *target) deleteUnnest() string {
	return "DELETE FROM " + tg.ident + " WHERE " + rowExpr(tg.key) + " IN (SELECT * FROM unnest(" + tg.arrayParams(tg.key) + "))"
}

func (tg *target) arrayParams(cols []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = "$" + strconv.Itoa(i+1) + "::" + tg.types[c] + "[]"
	}
	return strings.Join(parts, ", ")
}

// unnestable reports whether cols can travel as one-dimensional arrays:
// not when a column is itself an array (unnest would flatten it).
func (tg *target) unnestable(cols []string) bool {
	for _, c := range cols {
		if tg.arrays[c] {
			return false
		}
	}
	return true
}

// arrayLiterals returns one array literal per column holding the rows'
// values, every element quoted.
func arrayLiterals(rows []change.Row, cols []string) []any {
	out := make([]any, len(cols))
	var b, scratch []byte
	for i, c := range cols {
		b = append(b[:0], '{')
		for j, r := range rows {
			if j > 0 {
				b = append(b, ',')
			}
			var ok bool
			if scratch, ok = appendText(scratch[:0], r[c]); !ok {
				b = append(b, "NULL"...)
				continue
			}
			b = append(b, '"')
			for _, ch := range scratch {
				if ch == '"' || ch == '\\' {
					b = append(b, '\\')
				}
				b = append(b, ch)
			}
			b = append(b, '"')
		}
		b = append(b, '}')
		out[i] = string(b)
	}
	return out
}

// createStage creates the session's staging table, emptied at every commit.
func (tg *target) createStage() string {
	return "CREATE TEMP TABLE IF NOT EXISTS " + tg.stage + " ON COMMIT DELETE ROWS AS SELECT " +
		quoteList(tg.cols) + " FROM " + tg.ident + " WITH NO DATA"
}

func (tg *target) copyStage(cols []string) string {
	return "COPY " + tg.stage + " (" + quoteList(cols) + ") FROM STDIN"
}

func (tg *target) upsertFromStage(cols []string) string {
	return tg.insertHead(cols) + "SELECT " + quoteList(cols) + " FROM " + tg.stage + tg.onConflict(cols)
}

func (tg *target) deleteUsingStage() string {
	conds := make([]string, len(tg.key))
	for i, k := range tg.key {
		q := pgx.Identifier{k}.Sanitize()
		conds[i] = "t." + q + " = s." + q
	}
	return "DELETE FROM " + tg.ident + " t USING " + tg.stage + " s WHERE " + strings.Join(conds, " AND ")
}

func (tg *target) clearStage() string { return "DELETE FROM " + tg.stage }

// statementSizes splits n rows into statements of power-of-two sizes no
// larger than limit, largest first: few distinct statement shapes.
func statementSizes(n, limit int) []int {
	var out []int
	size := 1
	for size*2 <= limit {
		size *= 2
	}
	for n > 0 {
		for size > n {
			size /= 2
		}
		out = append(out, size)
		n -= size
	}
	return out
}

// rowsPerStatement is the largest multi-row statement for ncols columns.
func rowsPerStatement(ncols int) int {
	return max(1, min(maxRowsPerStatement, maxParams/max(1, ncols)))
}

// copyWriter builds COPY text-format data.
type copyWriter struct {
	buf     bytes.Buffer
	scratch []byte
}

// row appends one row: tab-separated values, \N for NULL, backslash
// escapes for the characters COPY gives a meaning to.
func (w *copyWriter) row(row change.Row, cols []string) {
	for i, c := range cols {
		if i > 0 {
			w.buf.WriteByte('\t')
		}
		v := row[c]
		switch v.Kind {
		case change.KindText, change.KindDecimal, change.KindJSON, change.KindUUID, change.KindTime, change.KindUnknown:
			w.scratch = append(w.scratch[:0], v.String()...)
		default:
			var ok bool
			if w.scratch, ok = appendText(w.scratch[:0], v); !ok {
				w.buf.WriteString(`\N`)
				continue
			}
		}
		w.buf.Write(appendCopyText(w.buf.AvailableBuffer(), w.scratch))
	}
	w.buf.WriteByte('\n')
}
