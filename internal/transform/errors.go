package transform

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr/file"
)

// Error is a failure to compile or apply one part of a flow's mapping. It
// names the flow, the target column (or the filter) and the expression, so a
// DLQ entry or a validate message says exactly what to fix. Apply errors are
// data errors: the engine parks the change, it does not retry it.
type Error struct {
	Flow   string
	Column string // target column; "" for the filter or the flow as a whole
	Filter bool   // the error is in the flow's filter
	Expr   string // the expression text, when one is involved
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flow %s: ", e.Flow)
	switch {
	case e.Filter:
		fmt.Fprintf(&b, "filter %q: ", e.Expr)
	case e.Column != "" && e.Expr != "":
		fmt.Fprintf(&b, "column %s: expression %q: ", e.Column, e.Expr)
	case e.Column != "":
		fmt.Fprintf(&b, "column %s: ", e.Column)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// exprError strips expr's multi-line source excerpt from err: the message
// already quotes the expression, and a DLQ entry or log line must stay on one
// line. The column is kept when it is not the start.
func exprError(err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err
	}
	pos := ""
	if fe.Column > 0 {
		pos = fmt.Sprintf(" (at column %d)", fe.Column+1)
	}
	if fe.Prev != nil { // a panic or a function's error: Message repeats it
		return fmt.Errorf("%w%s", fe.Prev, pos)
	}
	return errors.New(strings.TrimSpace(fe.Message) + pos)
}
