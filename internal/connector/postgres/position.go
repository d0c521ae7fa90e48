package postgres

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pglogrepl"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// positionPrefix versions the text form of a Position. A new layout gets a
// new version; Parse keeps reading every old one (testdata/positions.golden).
const positionPrefix = "pg-lsn:v1:"

// Position is a place in a PostgreSQL change stream: the LSN of a
// transaction's commit record. Everything committed at or before it has been
// delivered; streaming from it resumes with the next commit.
type Position struct {
	LSN pglogrepl.LSN
}

// Bytes encodes p as an opaque change.Position, e.g. "pg-lsn:v1:0/16B3748".
func (p Position) Bytes() change.Position {
	return change.Position(positionPrefix + p.LSN.String())
}

func (p Position) String() string { return positionPrefix + p.LSN.String() }

// ParsePosition decodes a change.Position written by Bytes.
func ParsePosition(b change.Position) (Position, error) {
	s := string(b)
	rest, ok := strings.CutPrefix(s, positionPrefix)
	if !ok {
		return Position{}, fmt.Errorf("position %q: not a postgres position (want %s<lsn>)", s, positionPrefix)
	}
	lsn, err := pglogrepl.ParseLSN(rest)
	if err != nil {
		return Position{}, fmt.Errorf("position %q: %w", s, err)
	}
	return Position{LSN: lsn}, nil
}

// comparePositions orders two encoded positions.
func comparePositions(a, b change.Position) (int, error) {
	pa, pb, err := connector.ParseBoth(ParsePosition, a, b)
	if err != nil {
		return 0, err
	}
	return cmp.Compare(pa.LSN, pb.LSN), nil
}

// logPositionPrefix versions the text form of a trigger-capture position
// (testdata/log_positions.golden).
const logPositionPrefix = "pg-log:v1:"

// logPosition is a place in a trigger capture log: every log row with an id
// up to it has been delivered; streaming from it resumes after it.
type logPosition int64

// Bytes encodes p, e.g. "pg-log:v1:42".
func (p logPosition) Bytes() change.Position {
	return change.Position(logPositionPrefix + strconv.FormatInt(int64(p), 10))
}

// parseLogPosition decodes a change.Position written by logPosition.Bytes.
func parseLogPosition(b change.Position) (logPosition, error) {
	rest, ok := strings.CutPrefix(string(b), logPositionPrefix)
	if !ok {
		return 0, fmt.Errorf("position %q: not a postgres trigger-capture position (want %s<id>)", b, logPositionPrefix)
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("position %q: bad log id", b)
	}
	return logPosition(id), nil
}
