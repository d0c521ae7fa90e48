package sqlpoll

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/syncbridge/syncbridge/internal/change"
)

// positionPrefix versions the cursor encoding. A new encoding gets a new
// prefix; old checkpoints must keep parsing (see testdata/position_v1.golden).
const positionPrefix = "poll:v1:"

// Cursor is a place in a polled table: the stored values of the poll column
// and then the key columns of the last row read. The empty cursor is before
// every row.
type Cursor []change.Value

// ParseCursor decodes a position. A nil or empty position is the empty
// cursor.
func ParseCursor(p change.Position) (Cursor, error) {
	if len(p) == 0 {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(string(p), positionPrefix)
	if !ok {
		return nil, fmt.Errorf("parse position %q: not a poll position", p)
	}
	var c Cursor
	if err := json.Unmarshal([]byte(rest), &c); err != nil {
		return nil, fmt.Errorf("parse position %q: %w", p, err)
	}
	return c, nil
}

// Bytes encodes c as a position: the prefix and the JSON of the typed values.
func (c Cursor) Bytes() change.Position {
	if c == nil {
		c = Cursor{}
	}
	b, err := json.Marshal([]change.Value(c))
	if err != nil {
		// Cursor values are built by this package from scanned values, whose
		// kinds all marshal; anything else is a bug.
		panic(fmt.Sprintf("sqlpoll: encode cursor: %v", err))
	}
	return change.Position(positionPrefix + string(b))
}

// Compare orders cursors value by value; the empty cursor is first.
func (c Cursor) Compare(o Cursor) int { return change.Key(c).Compare(change.Key(o)) }

// String renders c for change IDs and messages.
func (c Cursor) String() string { return change.Key(c).String() }
