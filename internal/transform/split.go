package transform

import (
	"github.com/syncbridge/syncbridge/internal/change"
)

// SplitKeyChange turns an update that changes the row's key (its Before key
// differs from its After key) into a delete of the old key followed by an
// insert of the new one, in that order. A sink upserts by key, so without the
// split the old row would stay behind. Any other change comes back alone and
// unchanged. key lists the source key columns.
//
// The two changes get IDs derived from c.ID ("#delete", "#insert") so they
// stay unique and stable across redelivery; they share c's TxID and
// Position, so they are applied in the same transaction.
func SplitKeyChange(c change.Change, key []string) []change.Change {
	if c.Op != change.OpUpdate || c.Before == nil || c.After == nil {
		return []change.Change{c}
	}
	oldKey, okOld := change.KeyOf(c.Before, key)
	newKey, okNew := change.KeyOf(c.After, key)
	if !okOld || !okNew || sameKey(oldKey, newKey) {
		return []change.Change{c}
	}
	del, ins := c, c
	del.Op, del.Key, del.After, del.Columns = change.OpDelete, oldKey, nil, nil
	ins.Op, ins.Key, ins.Before, ins.Columns = change.OpInsert, newKey, nil, nil
	if c.ID != "" {
		del.ID, ins.ID = c.ID+"#delete", c.ID+"#insert"
	}
	return []change.Change{del, ins}
}

func sameKey(a, b change.Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !change.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
