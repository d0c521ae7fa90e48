package sqlite

import (
	"errors"

	"github.com/syncbridge/syncbridge/internal/connector/sqlsink"
)

var (
	// errConvert marks a value that cannot be written to (or read from) its
	// column: a permanent failure of that one change (see classify).
	errConvert = sqlsink.ErrConvert
	// errNotInstalled is returned when capture is read before Prepare ran.
	errNotInstalled = errors.New("trigger capture is not installed: prepare the flow first (syncbridge run does)")
	// errImageShape means the fast row-image parser met JSON it does not
	// handle; the image is then decoded by encoding/json.
	errImageShape = errors.New("unexpected row image shape")
)
