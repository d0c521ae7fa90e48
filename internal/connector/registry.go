package connector

import (
	"fmt"
	"sort"
)

// Registry maps driver names to drivers.
type Registry struct {
	drivers map[string]Driver
}

// NewRegistry builds a registry; a duplicate driver name is an error.
func NewRegistry(drivers ...Driver) (*Registry, error) {
	r := &Registry{drivers: make(map[string]Driver, len(drivers))}
	for _, d := range drivers {
		if _, dup := r.drivers[d.Name()]; dup {
			return nil, fmt.Errorf("driver %q registered twice", d.Name())
		}
		r.drivers[d.Name()] = d
	}
	return r, nil
}

// Driver returns the named driver.
func (r *Registry) Driver(name string) (Driver, bool) {
	d, ok := r.drivers[name]
	return d, ok
}

// Names returns the registered driver names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.drivers))
	for n := range r.drivers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
