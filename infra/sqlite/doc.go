// Package sqlite is orderflow's embedded default backend: the orders store and
// the FIFO queues (SQS semantics) in one SQLite file, through the pure Go
// modernc.org/sqlite driver so the binary needs no cgo.
//
// Several processes may share the file (the operator CLI writes while
// `orderflow serve` runs): the database runs in WAL mode with a busy timeout,
// and every read-modify-write is one BEGIN IMMEDIATE transaction, so the write
// lock is taken before anything is read and no decision rests on a stale read.
//
// Every commit is durable before it is acknowledged (synchronous=FULL). Sends
// and conditional Saves go through a group committer (commit.go): writes that
// arrive while a commit is in progress share the next transaction and its
// fsync, each in its own savepoint, so one write's failed check never undoes
// or repeats another's. The DB also remembers which file it opened (file.go)
// and refuses writes once that file is deleted or replaced, since SQLite would
// otherwise go on writing to the orphaned file and lose it all on restart.
package sqlite
