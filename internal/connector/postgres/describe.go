package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// table is what the driver knows about one table.
type table struct {
	given     string // the name as the config wrote it
	schema    string
	name      string
	oid       uint32
	replIdent string // relreplident: d(efault), f(ull), i(ndex), n(othing)
	cols      []column
	key       []string // primary key, in key order
}

type column struct {
	name      string
	declared  string // format_type with modifiers, e.g. numeric(12,2)
	typ       *pgType
	nullable  bool
	generated bool // GENERATED ALWAYS AS (...) STORED: never written
	identity  bool // GENERATED ALWAYS AS IDENTITY: inserts need OVERRIDING SYSTEM VALUE
}

// ident is the quoted, schema-qualified name for SQL text.
func (t *table) ident() string { return pgx.Identifier{t.schema, t.name}.Sanitize() }

// qualified is the unquoted schema.name for messages.
func (t *table) qualified() string { return t.schema + "." + t.name }

func (t *table) column(name string) (*column, bool) {
	for i := range t.cols {
		if t.cols[i].name == name {
			return &t.cols[i], true
		}
	}
	return nil, false
}

// Describe returns the shape of a table named "schema.table" or "table" (the
// first match on the search_path, normally public). Names match exactly
// (case-sensitive); double quotes allow dots inside a part.
func (s *Store) Describe(ctx context.Context, name string) (*connector.Table, error) {
	t, err := s.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &connector.Table{Name: name, Key: t.key}
	for _, c := range t.cols {
		out.Columns = append(out.Columns, connector.Column{
			Name: c.name, Type: c.declared, Kind: c.typ.kind, Nullable: c.nullable, Generated: c.generated,
		})
	}
	return out, nil
}

func (s *Store) describe(ctx context.Context, name string) (*table, error) {
	schema, rel, err := splitTableName(name)
	if err != nil {
		return nil, err
	}
	t := &table{given: name}
	err = s.pool.QueryRow(ctx, `
		SELECT c.oid, n.nspname, c.relname, c.relreplident::text
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = $1 AND c.relkind IN ('r', 'p')
		  AND (n.nspname = $2 OR ($2 = '' AND n.nspname = ANY (current_schemas(false))))
		ORDER BY array_position(current_schemas(false), n.nspname::text) NULLS LAST
		LIMIT 1`, rel, schema).Scan(&t.oid, &t.schema, &t.name, &t.replIdent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store %q: table %q: %w", s.name, name, connector.ErrTableNotFound)
	}
	if err != nil {
		return nil, s.wrapErr(fmt.Errorf("store %q: describe %q: %w", s.name, name, err))
	}
	if err := s.describeColumns(ctx, t); err != nil {
		return nil, s.wrapErr(fmt.Errorf("store %q: describe %q: %w", s.name, name, err))
	}
	return t, nil
}

func (s *Store) describeColumns(ctx context.Context, t *table) error {
	rows, err := s.pool.Query(ctx, `
		SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, NOT a.attnotnull,
		       a.attgenerated <> '', a.attidentity = 'a'
		FROM pg_attribute a
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, t.oid)
	if err != nil {
		return err
	}
	type raw struct {
		column
		oid uint32
	}
	var cols []raw
	for rows.Next() {
		var c raw
		if err := rows.Scan(&c.name, &c.declared, &c.oid, &c.nullable, &c.generated, &c.identity); err != nil {
			rows.Close()
			return err
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cols {
		if c.typ, err = s.typeOf(ctx, c.oid); err != nil {
			return err
		}
		t.cols = append(t.cols, c.column)
	}
	rows, err = s.pool.Query(ctx, `
		SELECT a.attname
		FROM pg_index i
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary
		ORDER BY k.ord`, t.oid)
	if err != nil {
		return err
	}
	t.key, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return err
}

// splitTableName splits "schema.table" or "table"; a part may be double
// quoted to hold dots ("a.b"."c").
func splitTableName(name string) (schema, rel string, err error) {
	return connector.SplitTableName(name)
}

// typeOf returns how values of the type with this OID are carried, looking
// non-builtin types (enums, domains, their arrays, extension types) up once.
func (s *Store) typeOf(ctx context.Context, oid uint32) (*pgType, error) {
	if t, ok := builtinTypes[oid]; ok {
		return t, nil
	}
	s.typesMu.Lock()
	t, ok := s.types[oid]
	s.typesMu.Unlock()
	if ok {
		return t, nil
	}
	var (
		name             string
		typtype, typcat  string
		elemOID, baseOID uint32
	)
	err := s.pool.QueryRow(ctx, `
		SELECT format_type(oid, NULL), typtype::text, typcategory::text, typelem, typbasetype
		FROM pg_type WHERE oid = $1`, oid).Scan(&name, &typtype, &typcat, &elemOID, &baseOID)
	if err != nil {
		return nil, fmt.Errorf("look up type %d: %w", oid, err)
	}
	t = &pgType{oid: oid, name: name, kind: change.KindUnknown}
	switch {
	case typtype == "d":
		base, err := s.typeOf(ctx, baseOID)
		if err != nil {
			return nil, err
		}
		t.kind, t.elem = base.kind, base.elem
	case typcat == "A" && elemOID != 0:
		if t.elem, err = s.typeOf(ctx, elemOID); err != nil {
			return nil, err
		}
		t.kind = change.KindArray
	case typtype == "e" || typcat == "S":
		t.kind = change.KindText // enums, citext and other string types
	}
	s.typesMu.Lock()
	s.types[oid] = t
	s.typesMu.Unlock()
	return t, nil
}
