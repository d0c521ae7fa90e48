package sqlite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/syncbridge/syncbridge/internal/change"
)

// positionPrefix versions the encoding of trigger-log positions. A new
// encoding gets a new prefix; old checkpoints must keep parsing (see
// testdata/position_v1.golden).
const positionPrefix = "sqlite-log:v1:"

// Position is a place in a database's trigger log: every log row with an id
// at or below ID is before it. IDs come from an AUTOINCREMENT column and
// SQLite has a single writer, so they grow in commit order and are never
// reused.
type Position struct {
	ID int64
}

// ParsePosition decodes a position. A nil or empty position is the start of
// the log.
func ParsePosition(p change.Position) (Position, error) {
	if len(p) == 0 {
		return Position{}, nil
	}
	s := string(p)
	rest, ok := strings.CutPrefix(s, positionPrefix)
	if !ok {
		return Position{}, fmt.Errorf("parse position %q: not a sqlite trigger-log position", s)
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id < 0 {
		return Position{}, fmt.Errorf("parse position %q: bad log id", s)
	}
	return Position{ID: id}, nil
}

// Bytes encodes p.
func (p Position) Bytes() change.Position {
	return change.Position(positionPrefix + strconv.FormatInt(p.ID, 10))
}

// Compare orders positions.
func (p Position) Compare(o Position) int {
	switch {
	case p.ID < o.ID:
		return -1
	case p.ID > o.ID:
		return 1
	}
	return 0
}
