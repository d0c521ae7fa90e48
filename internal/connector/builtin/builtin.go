// Package builtin is the one explicit list of the drivers compiled into
// syncbridge. Drivers are listed here, not registered from init().
package builtin

import (
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/mysql"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
	"github.com/syncbridge/syncbridge/internal/connector/sqlite"
)

// Drivers returns every built-in driver.
func Drivers() []connector.Driver {
	return []connector.Driver{
		postgres.Driver{},
		mysql.Driver{},
		sqlite.Driver{},
	}
}
