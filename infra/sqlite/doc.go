// Package sqlite is orderflow's embedded default backend: the orders store and
// the FIFO queues (SQS semantics) in one SQLite file, through the pure Go
// modernc.org/sqlite driver so the binary needs no cgo.
//
// Several processes may share the file (the operator CLI writes while
// `orderflow serve` runs): the database runs in WAL mode with a busy timeout,
// and every read-modify-write is one BEGIN IMMEDIATE transaction, so the write
// lock is taken before anything is read and no decision rests on a stale read.
//
// Every commit is durable before it is acknowledged (synchronous=FULL). Every
// write of the process (sends, receives' in-flight marks, conditional Saves,
// deletes, visibility changes, failure reasons; not Create) goes through one
// group committer (commit.go): writes that arrive while a commit is in
// progress share the next transaction and its fsync, each in its own
// savepoint, so one write's failed check never undoes or repeats another's,
// and no write of the process waits on SQLite's busy handler for another.
// Hot statements are prepared once per connection (stmt.go) and the WAL is
// checkpointed in the background (checkpoint.go). The DB also remembers which file it opened (file.go)
// and refuses writes once that file is deleted or replaced, since SQLite would
// otherwise go on writing to the orphaned file and lose it all on restart.
package sqlite
