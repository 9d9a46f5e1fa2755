package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/sqlite"
)

// BenchmarkQueueRoundTrip measures send + receive + delete per message on the
// durable FIFO queue, receiving one message at a time against batches of 10
// (what the dispatcher asks for). Reported per message.
func BenchmarkQueueRoundTrip(b *testing.B) {
	for _, batch := range []int{1, 10} {
		b.Run(fmt.Sprintf("batch_%d", batch), func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.Close() })
			q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(`{"id":"evt_bench","object":"event","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}`)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				for j := 0; j < n; j++ {
					// Ten groups, so a batch of 10 is not held back by group blocking.
					_, err := q.Send(ctx, domain.OutgoingMessage{Body: body, GroupID: fmt.Sprintf("g%d", j), DedupID: fmt.Sprintf("d%d", done+j)})
					if err != nil {
						b.Fatal(err)
					}
				}
				got := 0
				for got < n {
					msgs, err := q.Receive(ctx, n-got, time.Second)
					if err != nil {
						b.Fatal(err)
					}
					for _, m := range msgs {
						if err := q.Delete(ctx, m.Receipt); err != nil {
							b.Fatal(err)
						}
					}
					got += len(msgs)
				}
				done += n
			}
		})
	}
}

// BenchmarkSendConcurrent measures durable sends from 32 concurrent senders,
// as a burst of webhooks arrives at the ingress: each Send returns only when
// its row is committed with synchronous=FULL, so the cost is dominated by
// fsyncs, and group commit shares them. Reported per message.
func BenchmarkSendConcurrent(b *testing.B) {
	const senders = 32
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	q, err := sqlite.NewQueue(db, sqlite.QueueConfig{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"id":"evt_bench","object":"event","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}`)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism((senders + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			_, err := q.Send(ctx, domain.OutgoingMessage{Body: body, GroupID: fmt.Sprintf("g%d", n%64), DedupID: fmt.Sprintf("d%d", n)})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
