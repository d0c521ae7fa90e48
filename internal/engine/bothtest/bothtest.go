// Package bothtest is the workload of the both-way convergence tests:
// writers that upsert and delete overlapping keys on either side of a flow
// while keeping a ledger of every write, the lww oracle over that ledger,
// and the test tables in SQLite and PostgreSQL.
//
// The tables have different shapes on purpose: the legacy table keeps a
// first and a last name, the platform table one full name computed from
// them and mapped back by the flow's reverse: entries. Rows are compared in
// the platform's model, rendered "full name|email|updated_at".
package bothtest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Schemas and flows of the test tables.
const (
	SQLiteLegacySchema = `CREATE TABLE CUST_MSTR (
  CUST_ID INTEGER PRIMARY KEY, CUST_FNM TEXT NOT NULL, CUST_LNM TEXT NOT NULL, EMAIL_ADR TEXT, UPD_TS DATETIME)`
	SQLitePlatformSchema = `CREATE TABLE customers (
  id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, email TEXT, updated_at DATETIME, note TEXT)`
	PGLegacySchema = `CREATE TABLE cust_mstr (cust_id bigint PRIMARY KEY, cust_fnm text NOT NULL, cust_lnm text NOT NULL,
		email_adr text, upd_ts timestamptz)`
	PGPlatformSchema = `CREATE TABLE customers (id bigint PRIMARY KEY, full_name text NOT NULL, email text,
		updated_at timestamptz, note text)`

	// FlowSQLiteLegacy is the flow (a YAML list entry) from the SQLite
	// legacy table; %s is its conflict setting.
	FlowSQLiteLegacy = `
  - name: customers
    from: {store: legacy, table: CUST_MSTR}
    to: {store: platform, table: customers}
    key: [CUST_ID]
    columns:
      id: CUST_ID
      full_name: CUST_FNM + " " + CUST_LNM
      email: EMAIL_ADR
      updated_at: UPD_TS
    reverse:
      CUST_FNM: split_part(full_name, " ", 1)
      CUST_LNM: split_part(full_name, " ", 2)
    direction: both
    batch: {size: 200, linger: 5ms}
    conflict: %s
`
	// FlowPGLegacy is the same flow from the PostgreSQL legacy table.
	FlowPGLegacy = `
  - name: customers
    from: {store: legacy, table: cust_mstr}
    to: {store: platform, table: customers}
    key: [cust_id]
    columns:
      id: cust_id
      full_name: cust_fnm + " " + cust_lnm
      email: email_adr
      updated_at: upd_ts
    reverse:
      cust_fnm: split_part(full_name, " ", 1)
      cust_lnm: split_part(full_name, " ", 2)
    direction: both
    batch: {size: 200, linger: 5ms}
    conflict: %s
`
)

// StampLayout is how writers write and dumps render times.
const StampLayout = "2006-01-02T15:04:05.000000Z"

// Side is one side of the flow as the writers see it.
type Side struct {
	Name   string
	DB     *sql.DB
	upsert func(ex execer, key int, tag string, at time.Time) error
	delete string // statement deleting key $1 / ?
	dump   string // query of (key, full name, email, updated_at)
	suffix string // what follows the tag in the full name
	domain string // what follows the tag in the email
}

// execer is what a database and a transaction have in common.
type execer interface {
	Exec(query string, args ...any) (sql.Result, error)
}

// Upsert writes key with values derived from tag at time at.
func (s *Side) Upsert(key int, tag string, at time.Time) error { return s.upsert(s.DB, key, tag, at) }

// UpsertBatch writes several keys in one transaction, each stamped with the
// time it is written.
func (s *Side) UpsertBatch(keys []int, tags []string) error {
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i, k := range keys {
		if err := s.upsert(tx, k, tags[i], time.Now()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Delete deletes key and reports whether a row went.
func (s *Side) Delete(key int) (bool, error) {
	res, err := s.DB.Exec(s.delete, key)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Render is the row an upsert with tag at at leaves, as Dump shows it.
func (s *Side) Render(tag string, at time.Time) string {
	return tag + s.suffix + "|" + tag + s.domain + "|" + at.UTC().Format(StampLayout)
}

// Dump reads every row by key.
func (s *Side) Dump() (map[int]string, error) {
	rows, err := s.DB.Query(s.dump)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var (
			key         int
			name, email string
			at          any
		)
		if err := rows.Scan(&key, &name, &email, &at); err != nil {
			return nil, err
		}
		out[key] = name + "|" + email + "|" + stamp(at)
	}
	return out, rows.Err()
}

func stamp(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(StampLayout)
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC().Format(StampLayout)
		}
		return x
	case []byte:
		return stamp(string(x))
	case nil:
		return "NULL"
	}
	return fmt.Sprint(v)
}

// SQLiteLegacy is the SQLite legacy table in db.
func SQLiteLegacy(db *sql.DB) *Side {
	return &Side{Name: "legacy", DB: db, suffix: " W", domain: "@l",
		upsert: func(ex execer, key int, tag string, at time.Time) error {
			_, err := ex.Exec(`INSERT INTO CUST_MSTR (CUST_ID, CUST_FNM, CUST_LNM, EMAIL_ADR, UPD_TS) VALUES (?, ?, 'W', ?, ?)
				ON CONFLICT (CUST_ID) DO UPDATE SET CUST_FNM = excluded.CUST_FNM, CUST_LNM = 'W', EMAIL_ADR = excluded.EMAIL_ADR, UPD_TS = excluded.UPD_TS`,
				key, tag, tag+"@l", at.UTC().Format(StampLayout))
			return err
		},
		delete: `DELETE FROM CUST_MSTR WHERE CUST_ID = ?`,
		dump:   `SELECT CUST_ID, CUST_FNM || ' ' || CUST_LNM, coalesce(EMAIL_ADR, ''), UPD_TS FROM CUST_MSTR`,
	}
}

// SQLitePlatform is the SQLite platform table in db.
func SQLitePlatform(db *sql.DB) *Side {
	return &Side{Name: "platform", DB: db, suffix: " V", domain: "@p",
		upsert: func(ex execer, key int, tag string, at time.Time) error {
			_, err := ex.Exec(`INSERT INTO customers (id, full_name, email, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, email = excluded.email, updated_at = excluded.updated_at`,
				key, tag+" V", tag+"@p", at.UTC().Format(StampLayout))
			return err
		},
		delete: `DELETE FROM customers WHERE id = ?`,
		dump:   `SELECT id, full_name, coalesce(email, ''), updated_at FROM customers`,
	}
}

// PGLegacy is the PostgreSQL legacy table in db (driver pgx).
func PGLegacy(db *sql.DB) *Side {
	return &Side{Name: "legacy", DB: db, suffix: " W", domain: "@l",
		upsert: func(ex execer, key int, tag string, at time.Time) error {
			_, err := ex.Exec(`INSERT INTO cust_mstr (cust_id, cust_fnm, cust_lnm, email_adr, upd_ts) VALUES ($1, $2, 'W', $3, $4)
				ON CONFLICT (cust_id) DO UPDATE SET cust_fnm = excluded.cust_fnm, cust_lnm = 'W', email_adr = excluded.email_adr, upd_ts = excluded.upd_ts`,
				key, tag, tag+"@l", at)
			return err
		},
		delete: `DELETE FROM cust_mstr WHERE cust_id = $1`,
		dump:   `SELECT cust_id, cust_fnm || ' ' || cust_lnm, coalesce(email_adr, ''), upd_ts FROM cust_mstr`,
	}
}

// PGPlatform is the PostgreSQL platform table in db (driver pgx).
func PGPlatform(db *sql.DB) *Side {
	return &Side{Name: "platform", DB: db, suffix: " V", domain: "@p",
		upsert: func(ex execer, key int, tag string, at time.Time) error {
			_, err := ex.Exec(`INSERT INTO customers (id, full_name, email, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, email = excluded.email, updated_at = excluded.updated_at`,
				key, tag+" V", tag+"@p", at)
			return err
		},
		delete: `DELETE FROM customers WHERE id = $1`,
		dump:   `SELECT id, full_name, coalesce(email, ''), updated_at FROM customers`,
	}
}

// Entry is one write a writer made.
type Entry struct {
	Side      string
	Key       int
	Delete    bool
	At, Until time.Time // upserts: At is updated_at; deletes: the commit lies in [At, Until]
	Row       string
}

// Ledger is every write of a run.
type Ledger []Entry

// Write upserts (85%) and deletes (15%) random keys in 1..keys on s at
// perSecond writes per second until ctx ends, and returns its ledger. Only
// deletes that removed a row are recorded.
func Write(ctx context.Context, s *Side, keys, perSecond int, seed uint64) (Ledger, error) {
	rng := rand.New(rand.NewPCG(seed, seed*7+1))
	var out Ledger
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return out, nil
		case <-tick.C:
		}
		key := 1 + rng.IntN(keys)
		if rng.IntN(100) < 15 {
			before := time.Now()
			ok, err := s.Delete(key)
			after := time.Now()
			if err != nil {
				return out, fmt.Errorf("%s: delete %d: %w", s.Name, key, err)
			}
			if ok {
				out = append(out, Entry{Side: s.Name, Key: key, Delete: true, At: before, Until: after})
			}
			continue
		}
		at := time.Now().UTC().Truncate(time.Microsecond)
		tag := fmt.Sprintf("%s%d", s.Name[:1], i)
		if err := s.Upsert(key, tag, at); err != nil {
			return out, fmt.Errorf("%s: upsert %d: %w", s.Name, key, err)
		}
		out = append(out, Entry{Side: s.Name, Key: key, At: at, Until: at, Row: s.Render(tag, at)})
	}
}

// Expected is the lww oracle: per key the latest write on either side (a
// delete's time is its commit time, which SQLite records to the
// millisecond). Keys whose latest write is too close to an earlier write of
// the other side to order (a delete's commit time is only known to lie in
// an interval) are ambiguous: either outcome is right, as long as the sides
// agree.
func (l Ledger) Expected() (want map[int]string, ambiguous map[int]bool) {
	const slack = 2 * time.Millisecond
	byKey := map[int][]Entry{}
	for _, e := range l {
		byKey[e.Key] = append(byKey[e.Key], e)
	}
	want, ambiguous = map[int]string{}, map[int]bool{}
	for k, es := range byKey {
		sort.Slice(es, func(i, j int) bool { return es[i].At.Before(es[j].At) })
		last := es[len(es)-1]
		for _, e := range es[:len(es)-1] {
			if e.Side != last.Side && e.Until.Add(slack).After(last.At) && (e.Delete || last.Delete) {
				ambiguous[k] = true
			}
		}
		if !last.Delete {
			want[k] = last.Row
		}
	}
	return want, ambiguous
}

// History renders the writes of one key for failure messages, both sides'
// in order of time.
func (l Ledger) History(key int) string {
	var es []Entry
	for _, e := range l {
		if e.Key == key {
			es = append(es, e)
		}
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].At.Before(es[j].At) })
	var b strings.Builder
	for _, e := range es {
		if e.Delete {
			fmt.Fprintf(&b, "\n      %s delete between %s and %s", e.Side, e.At.UTC().Format(StampLayout), e.Until.UTC().Format(StampLayout))
		} else {
			fmt.Fprintf(&b, "\n      %s upsert %s", e.Side, e.Row)
		}
	}
	return b.String()
}

// Check compares the two sides' dumps over keys 1..keys: diverged lists
// keys the sides disagree on; with lww, wrong lists keys that do not hold
// their latest write (ambiguous keys excepted).
func (l Ledger) Check(a, b *Side, keys int, lww bool) (diverged, wrong []string, err error) {
	da, err := a.Dump()
	if err != nil {
		return nil, nil, err
	}
	db, err := b.Dump()
	if err != nil {
		return nil, nil, err
	}
	want, ambiguous := l.Expected()
	for k := 1; k <= keys; k++ {
		if da[k] != db[k] {
			diverged = append(diverged, fmt.Sprintf("key %d: %s=%q %s=%q%s", k, a.Name, da[k], b.Name, db[k], l.History(k)))
			continue
		}
		if lww && da[k] != want[k] && !ambiguous[k] {
			wrong = append(wrong, fmt.Sprintf("key %d: both %q, latest write %q%s", k, da[k], want[k], l.History(k)))
		}
	}
	return diverged, wrong, nil
}
