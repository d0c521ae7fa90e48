package sqlsink

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

var errData = errors.New("bad row")

// fake is a table of columns id, a, b (b generated) whose Upsert records
// each statement's row count and fails any statement holding a row with
// a = "bad".
type fake struct {
	enc   Encoder
	execs []int
}

func newFake() (*fake, *Applier) {
	f := &fake{enc: Encoder{
		Table:   "t",
		Columns: []connector.Column{{Name: "id"}, {Name: "a"}, {Name: "b", Generated: true}},
		Index:   map[string]int{"id": 0, "a": 1, "b": 2},
		Key:     []string{"id"},
		Encode:  func(i int, v change.Value) (any, error) { return v.String(), nil },
	}}
	return f, &Applier{
		Table: "t", GroupRows: 3, MaxParams: 100,
		Encode:  f.enc.Upsert,
		Refresh: func(context.Context) error { return nil },
		Upsert: func(_ context.Context, rows []Row) error {
			f.execs = append(f.execs, len(rows))
			for _, r := range rows {
				for _, a := range r.Args {
					if a == "bad" {
						return errData
					}
				}
			}
			return nil
		},
		Delete: func(context.Context, *change.Change) error { f.execs = append(f.execs, -1); return nil },
		Classify: func(err error) (bool, bool) {
			ok := errors.Is(err, errData) || errors.Is(err, ErrConvert)
			return ok, ok
		},
	}
}

func up(id int64, kv ...string) change.Change {
	c := change.Change{Op: change.OpUpdate, Table: "t", Key: change.Key{change.Int(id)}, After: change.Row{}}
	for i := 0; i < len(kv); i += 2 {
		c.After[kv[i]] = change.Text(kv[i+1])
	}
	return c
}

func TestApplyGroups(t *testing.T) {
	f, a := newFake()
	changes := []change.Change{
		up(1, "a", "x"), up(2, "a", "x", "b", "skipped"), up(3, "a", "x"), up(4, "a", "x"), // one column set, 3 per statement
		up(5), // key only: another column set
		{Op: change.OpDelete, Table: "t", Key: change.Key{change.Int(6)}},
		up(7, "a", "x"),
	}
	if err := a.Apply(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 1, 1, -1, 1}; !reflect.DeepEqual(f.execs, want) {
		t.Fatalf("statements %v, want %v", f.execs, want)
	}
	r, _ := f.enc.Upsert(&changes[1])
	if got := string(AppendSignature(nil, []Row{r, r})); got != "u2:110" {
		t.Fatalf("signature %q", got)
	}

	f.execs = nil
	a.MaxParams = 4 // two rows of two values
	if err := a.Apply(context.Background(), changes[:4]); err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 2}; !reflect.DeepEqual(f.execs, want) {
		t.Fatalf("statements %v, want %v", f.execs, want)
	}
}

func TestApplyReplaysFailedGroup(t *testing.T) {
	f, a := newFake()
	changes := []change.Change{up(1), up(2, "a", "x"), up(3, "a", "bad"), up(4, "a", "x")}
	err := a.Apply(context.Background(), changes)
	var ae *connector.ApplyError
	if !errors.As(err, &ae) || ae.Index != 2 || !ae.Permanent {
		t.Fatalf("err %v, want ApplyError at 2", err)
	}
	// key-only row alone; group of three fails; rows replayed until the bad one
	if want := []int{1, 3, 1, 1}; !reflect.DeepEqual(f.execs, want) {
		t.Fatalf("statements %v, want %v", f.execs, want)
	}

	_, a = newFake()
	err = a.Apply(context.Background(), []change.Change{up(1, "a", "x"), up(2, "nope", "x")})
	if !errors.As(err, &ae) || ae.Index != 1 || !errors.Is(err, ErrUnknownColumn) {
		t.Fatalf("err %v, want unknown column at 1", err)
	}
}
