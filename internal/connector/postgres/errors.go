package postgres

import "errors"

// errServerWaiting is returned when the server insists on a confirmation
// the stream cannot give (see pingLimit).
var errServerWaiting = errors.New("the server waits for the stream to confirm WAL that is not yet applied " +
	"(it is probably shutting down): closing the stream; it resumes from the last acknowledged position")
