package sqlite

import (
	"errors"
	"fmt"
)

var (
	// errConvert marks a value that cannot be written to its column: a
	// permanent failure of that one change (see classify).
	errConvert = errors.New("cannot convert value")
	// errUnknownColumn is a change naming a column the table does not have.
	errUnknownColumn = fmt.Errorf("%w: unknown column", errConvert)
	// errNotInstalled is returned when capture is read before Prepare ran.
	errNotInstalled = errors.New("trigger capture is not installed: prepare the flow first (syncbridge run does)")
	// errImageShape means the fast row-image parser met JSON it does not
	// handle; the image is then decoded by encoding/json.
	errImageShape = errors.New("unexpected row image shape")
)
