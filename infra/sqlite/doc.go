// Package sqlite is orderflow's embedded default backend: the orders store and
// the FIFO queues (SQS semantics) in one SQLite file, through the pure Go
// modernc.org/sqlite driver so the binary needs no cgo.
//
// Several processes may share the file (the operator CLI writes while
// `orderflow serve` runs): the database runs in WAL mode with a busy timeout,
// and every read-modify-write is one BEGIN IMMEDIATE transaction, so the write
// lock is taken before anything is read and no decision rests on a stale read.
package sqlite
