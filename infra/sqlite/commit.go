package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// maxGroup bounds how many writes share one transaction, so one commit does
// not hold the write lock (and other processes) for long.
const maxGroup = 128

// errClosed answers a write handed over after Close.
var errClosed = errors.New("the database is closed")

// writeOp is one caller's write waiting for the group committer.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error // buffered: the committer never waits for the caller
}

// write runs fn in a transaction it may share with other callers' writes
// (group commit): with synchronous=FULL every commit is an fsync, and under
// load one fsync for many writes is what keeps the queue fast without giving
// up durability. It returns only when fn's changes are committed to disk, or
// with the error that kept them out.
//
// fn runs inside its own SAVEPOINT: when it fails, only its changes are
// undone and only its caller gets the error; the other writes in the group go
// on. fn must use the ctx it is given, not its caller's: a cancelled
// statement interrupts SQLite, which would roll back the whole group.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := db.canWrite(false); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.commits <- op:
	case <-db.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		// Handed over, so it may still commit: the caller is only told it
		// was not acknowledged, which at-least-once delivery allows.
		return ctx.Err()
	}
}

// commitLoop is the group committer: it takes the first waiting write, then
// every other write already waiting, and commits them together. Nothing
// waits for more writes to come: a lone write commits at once, and writes
// group up only while an earlier commit is in progress.
func (db *DB) commitLoop() {
	defer close(db.stopped)
	for {
		var group []*writeOp
		select {
		case op := <-db.commits:
			group = append(group, op)
		case <-db.stop:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case op := <-db.commits:
				group = append(group, op)
			default:
				break more
			}
		}
		db.commitGroup(group)
	}
}

// commitGroup runs the group in one transaction and answers every caller:
// its own error, or the group's (begin, commit, a lost file) if the
// transaction as a whole failed, or nil once the commit is durable.
func (db *DB) commitGroup(group []*writeOp) {
	// The group's statements run on a context of their own: one caller
	// giving up must not interrupt the others' transaction.
	ctx := context.Background()
	errs := make([]error, len(group))
	groupErr := func() error {
		tx, err := db.sql.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		for i, op := range group {
			if err := op.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			if err := db.apply(ctx, tx, op); err != nil {
				errs[i] = err
				if errors.Is(err, errGroupBroken) {
					return errors.Join(err, rollback(tx))
				}
			}
		}
		// Checked last thing before the commit: acknowledging a write that
		// went to a deleted or replaced file would lose it on restart.
		if err := db.file.check(true); err != nil {
			return errors.Join(err, rollback(tx))
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}()
	for i, op := range group {
		if errs[i] == nil {
			errs[i] = groupErr
		}
		op.done <- errs[i]
	}
}

// errGroupBroken marks a failure that left the shared transaction unusable
// (SQLite rolls a transaction back on some I/O errors), so no write of the
// group can commit.
var errGroupBroken = errors.New("the shared transaction failed")

// apply runs one write inside a savepoint. Its own failure is undone by
// rolling back to the savepoint and returned; a failure to do even that
// breaks the group.
func (db *DB) apply(ctx context.Context, tx *sql.Tx, op *writeOp) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT one_write`); err != nil {
		return fmt.Errorf("%w: savepoint: %v", errGroupBroken, err)
	}
	err := op.fn(ctx, tx)
	if err != nil {
		if _, rbErr := tx.ExecContext(ctx, `ROLLBACK TO one_write`); rbErr != nil {
			return fmt.Errorf("%w: %w (undoing it: %v)", errGroupBroken, err, rbErr)
		}
	}
	if _, relErr := tx.ExecContext(ctx, `RELEASE one_write`); relErr != nil {
		return fmt.Errorf("%w: release savepoint: %v", errGroupBroken, relErr)
	}
	return err
}
