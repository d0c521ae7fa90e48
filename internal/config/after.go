package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// after checks every `after:` reference and that the references form no
// cycle: backfills run in dependency order, so a cycle would wait forever.
// first maps each flow name to the index of its first definition.
func (v *validator) after(first map[string]int) {
	names := make([]string, 0, len(first))
	for _, f := range v.cfg.Flows {
		if _, ok := first[f.Name]; ok && f.Name != "" && !slices.Contains(names, f.Name) {
			names = append(names, f.Name)
		}
	}
	edges := make([][]int, len(v.cfg.Flows))
	for i, f := range v.cfg.Flows {
		for j, a := range f.After {
			path := fmt.Sprintf("flows[%d].after[%d]", i, j)
			k, ok := first[a]
			switch {
			case a == "":
				v.add(path, "empty flow name")
			case a == f.Name:
				v.add(path, "flow %s cannot run after itself; remove it", a)
			case !ok:
				v.add(path, "flow %q is not defined%s; defined flows: %s", a, didYouMean(a, names),
					strings.Join(names, ", "))
			default:
				edges[i] = append(edges[i], k)
			}
		}
	}
	for _, cyc := range cycles(edges) {
		parts := make([]string, 0, len(cyc)+1)
		for _, i := range cyc {
			parts = append(parts, v.cfg.Flows[i].Name)
		}
		parts = append(parts, v.cfg.Flows[cyc[0]].Name)
		v.add(fmt.Sprintf("flows[%d].after", cyc[0]), "cycle %s; remove one of these dependencies",
			strings.Join(parts, " -> "))
	}
}

// cycles finds cycles in a graph given as adjacency lists, at least one per
// strongly connected part, each rotated to start at its lowest index and
// reported once, in a deterministic order.
func cycles(edges [][]int) [][]int {
	const (
		unseen = iota
		onStack
		done
	)
	state := make([]int, len(edges))
	var stack []int
	var out [][]int
	reported := map[string]bool{}
	var visit func(int)
	visit = func(n int) {
		state[n] = onStack
		stack = append(stack, n)
		for _, m := range edges[n] {
			switch state[m] {
			case unseen:
				visit(m)
			case onStack:
				at := slices.Index(stack, m)
				cyc := rotateToMin(slices.Clone(stack[at:]))
				if key := cycleKey(cyc); !reported[key] {
					reported[key] = true
					out = append(out, cyc)
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
	}
	for n := range edges {
		if state[n] == unseen {
			visit(n)
		}
	}
	return out
}

func rotateToMin(c []int) []int {
	m := slices.Index(c, slices.Min(c))
	return append(slices.Clone(c[m:]), c[:m]...)
}

func cycleKey(c []int) string {
	var b strings.Builder
	for _, i := range c {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(',')
	}
	return b.String()
}
