package mysql

import (
	"errors"

	"github.com/syncbridge/syncbridge/internal/connector/sqlsink"
)

var (
	// errConvert marks a value that cannot be written to (or read from) its
	// column: a permanent failure of that one change (see classify).
	errConvert = sqlsink.ErrConvert
	// errZeroDate is a '0000-00-00' style date, which has no instant.
	errZeroDate = errors.New("zero date")
	// errRowImage means the binlog carries partial row images.
	errRowImage = errors.New("binlog row image is not FULL")
)
