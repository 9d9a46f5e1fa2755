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

// commitBacklog is how many writes can wait for the committer without
// their callers blocking on the hand-over: a caller hands its write over at
// once and only waits for the commit itself.
const commitBacklog = 1024

// errClosed answers a write handed over after Close.
var errClosed = errors.New("the database is closed")

// writeOp is one caller's write waiting for the group committer.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error // buffered: the committer never waits for the caller
	// wakes: once committed, the write may have made messages receivable
	// (a send, a delete unblocking a group, a visibility change), so
	// receivers waiting in this process look again at once.
	wakes bool
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
	return db.writeWith(ctx, fn, false)
}

// writeWakes is write for a write that can make messages receivable.
func (db *DB) writeWakes(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return db.writeWith(ctx, fn, true)
}

func (db *DB) writeWith(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error, wakes bool) error {
	op, err := db.handOver(ctx, fn, wakes)
	if err != nil {
		return err
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

// writeWait is write for a caller that must learn the outcome of a write it
// handed over even when its ctx ends meanwhile: a receive that marked
// messages in flight has to return them, or they would stay hidden for the
// visibility timeout. The wait is bounded by one commit.
func (db *DB) writeWait(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	op, err := db.handOver(ctx, fn, false)
	if err != nil {
		return err
	}
	return <-op.done
}

// handOver queues fn for the committer. Writes are committed in the order
// they were handed over: a write handed over after another one returned
// sees its changes.
func (db *DB) handOver(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error, wakes bool) (*writeOp, error) {
	if err := db.canWrite(false); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1), wakes: wakes}
	// The read lock keeps Close from draining the committer while a write
	// is being handed over: every write either gets in before the drain or
	// sees closing and fails.
	db.closing.RLock()
	defer db.closing.RUnlock()
	if db.closed {
		return nil, errClosed
	}
	select {
	case db.commits <- op:
		return op, nil
	case <-ctx.Done():
		return nil, ctx.Err()
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
			// Close lets no more writes in; finish those already handed over.
			for {
				select {
				case op := <-db.commits:
					group = append(group, op)
					if len(group) < maxGroup {
						continue
					}
				default:
				}
				if len(group) == 0 {
					return
				}
				db.commitGroup(group)
				group = nil
			}
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
		db.committed.Store(true)
		return nil
	}()
	db.noteDamage(groupErr)
	wake := false
	for i, op := range group {
		db.noteDamage(errs[i])
		if errs[i] == nil {
			errs[i] = groupErr
		}
		wake = wake || (op.wakes && errs[i] == nil)
		op.done <- errs[i]
	}
	if wake {
		db.wakeReceivers()
	}
}

// receivable returns the channel that wakes one receiver of queue in this
// process when a write that may have made messages receivable commits. It
// holds at most one token: a commit wakes one waiting receiver, not all of
// them (the others would only scan for the same messages inside the
// committer and find them taken), and a receiver that got a full batch
// passes the token on (Receive), since more may be waiting. A token left
// from a commit between a receiver's look and its wait wakes it at once, so
// no commit is missed; a stale one costs one look.
func (db *DB) receivable(queue string) chan struct{} {
	db.wakeMu.Lock()
	defer db.wakeMu.Unlock()
	ch, ok := db.wake[queue]
	if !ok {
		if db.wake == nil {
			db.wake = make(map[string]chan struct{})
		}
		ch = make(chan struct{}, 1)
		db.wake[queue] = ch
	}
	return ch
}

// wakeReceivers gives every queue's receivers a token.
func (db *DB) wakeReceivers() {
	db.wakeMu.Lock()
	defer db.wakeMu.Unlock()
	for _, ch := range db.wake {
		wakeOne(ch)
	}
}

// wakeOne puts a token in ch unless one is there already.
func wakeOne(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
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
	if _, err := db.execTx(ctx, tx, `SAVEPOINT one_write`); err != nil {
		return fmt.Errorf("%w: savepoint: %v", errGroupBroken, err)
	}
	err := op.fn(ctx, tx)
	if err != nil {
		if _, rbErr := db.execTx(ctx, tx, `ROLLBACK TO one_write`); rbErr != nil {
			return fmt.Errorf("%w: %w (undoing it: %v)", errGroupBroken, err, rbErr)
		}
	}
	if _, relErr := db.execTx(ctx, tx, `RELEASE one_write`); relErr != nil {
		return fmt.Errorf("%w: release savepoint: %v", errGroupBroken, relErr)
	}
	return err
}
