//go:build nosqlite

package doctor

import (
	"context"
	"errors"
)

// sqliteChecks is absent from builds without the SQLite backend.
func (d *doctor) sqliteChecks(context.Context) {
	d.emit(Result{Check: CheckSQLiteFile, Detail: errors.New("this binary was built without the SQLite backend (build tag nosqlite); set ORDERFLOW_BACKEND=aws").Error()})
}
