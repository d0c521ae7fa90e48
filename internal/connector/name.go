package connector

import (
	"fmt"
	"strings"
)

// SplitTableName parses a table name as written in the config: "table" or
// "schema.table", where either part may be double-quoted SQL-style to hold
// dots or quotes ("odd.name", "say ""hi"""). Every driver reads table names
// with it, so one spelling means the same table everywhere. schema is ""
// when the name has no schema part.
func SplitTableName(name string) (schema, table string, err error) {
	var parts []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '"' && quoted && i+1 < len(name) && name[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			quoted = !quoted
		case c == '.' && !quoted:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	switch {
	case quoted:
		return "", "", fmt.Errorf("table name %q: unbalanced double quote", name)
	case len(parts) == 1 && parts[0] != "":
		return "", parts[0], nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("table name %q: want \"table\" or \"schema.table\" (double-quote a part that holds a dot or a quote)", name)
}
