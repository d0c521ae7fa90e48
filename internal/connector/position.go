package connector

import "github.com/syncbridge/syncbridge/internal/change"

// ParseBoth parses two positions of one source with its parser: the shared
// first half of every source's Compare.
func ParseBoth[P any](parse func(change.Position) (P, error), a, b change.Position) (pa, pb P, err error) {
	if pa, err = parse(a); err != nil {
		return pa, pb, err
	}
	pb, err = parse(b)
	return pa, pb, err
}
