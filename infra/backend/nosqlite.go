//go:build nosqlite

package backend

import (
	"context"

	"github.com/orderflow/orderflow/infra/config"
)

// openSQLite is absent from Lambda builds: a function always runs on AWS,
// and leaving the SQLite driver out makes each bootstrap smaller to load.
func openSQLite(context.Context, config.Config, Parts, *Backend) error {
	return errNoSQLite
}
