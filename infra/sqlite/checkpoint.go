package sqlite

import (
	"context"
	"time"
)

// checkpointEvery is how often the checkpointer copies the frames committed
// to the WAL into the database file, when anything was committed.
const checkpointEvery = 200 * time.Millisecond

// checkpointLoop checkpoints the WAL in the background. SQLite's automatic
// checkpoint (every 1000 pages) runs inside the commit that crosses the
// limit, so every so often one group commit also copied megabytes into the
// database file and fsynced it, and every write waiting behind it (webhooks
// among them) waited too. The process's connections are opened with
// wal_autocheckpoint(0), and this loop runs PASSIVE checkpoints on a pool
// connection instead: they copy what readers allow, never wait for the
// writer and never hold it up. Durability does not depend on checkpoints (a
// commit is durable once its WAL frames are fsynced; a WAL left by a crash is
// replayed on the next open), only the WAL's size does.
func (db *DB) checkpointLoop() {
	defer close(db.checkpointDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
		}
		if !db.committed.Swap(false) {
			continue
		}
		var busy, frames, copied int
		// Failures are left for the next round: a checkpoint only bounds
		// the WAL.
		_ = db.sql.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	}
}
