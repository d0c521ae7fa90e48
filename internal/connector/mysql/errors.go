package mysql

import (
	"errors"
	"fmt"
)

var (
	// errConvert marks a value that cannot be written to (or read from) its
	// column: a permanent failure of that one change (see classify).
	errConvert = errors.New("cannot convert value")
	// errUnknownColumn is a change naming a column the table does not have.
	errUnknownColumn = fmt.Errorf("%w: unknown column", errConvert)
	// errZeroDate is a '0000-00-00' style date, which has no instant.
	errZeroDate = errors.New("zero date")
	// errRowImage means the binlog carries partial row images.
	errRowImage = errors.New("binlog row image is not FULL")
)
