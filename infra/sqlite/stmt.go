package sqlite

import (
	"context"
	"database/sql"
)

// Prepared statements. Compiling SQL costs about as much as running these
// short statements (a CPU profile of serve under load had a fifth of its time
// in sqlite3_prepare), so the hot statements are prepared once per pool
// connection and reused: database/sql keeps, for each *sql.Stmt, the
// connections it is prepared on, and a transaction's StmtContext reuses the
// one of the transaction's connection.

// prepared returns query prepared on the pool, preparing it on first use.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	db.stmtMu.Lock()
	st, ok := db.stmts[query]
	db.stmtMu.Unlock()
	if ok {
		return st, nil
	}
	// Prepared without the lock: preparing may wait for a free connection.
	st, err := db.sql.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if first, ok := db.stmts[query]; ok {
		st.Close() // another caller prepared it meanwhile
		return first, nil
	}
	if db.stmts == nil {
		db.stmts = make(map[string]*sql.Stmt)
	}
	db.stmts[query] = st
	return st, nil
}

// closeStmts closes every prepared statement; Close calls it.
func (db *DB) closeStmts() {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	for _, st := range db.stmts {
		st.Close()
	}
	db.stmts = nil
}

// execTx runs a prepared write statement in tx.
func (db *DB) execTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// queryTx runs a prepared query in tx.
func (db *DB) queryTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// queryRowTx runs a prepared one-row query in tx. A statement that does not
// prepare is run unprepared, so its error comes out of Scan as usual.
func (db *DB) queryRowTx(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return tx.QueryRowContext(ctx, query, args...)
	}
	return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

// queryRow runs a prepared one-row query on the pool, outside any
// transaction.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return db.sql.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
