package workers_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/domain"
)

// BenchmarkProcessBatch measures a batch of 10 Stripe events on the real
// SQLite store: first deliveries (one conditional write each) against
// redeliveries of events already applied, which must be acknowledged without
// any write. The ratio is the cost of idempotency on the hot path. The _seq
// variants handle the batch's groups one at a time (Concurrency 1) instead of
// in parallel: on SQLite, writers serialise on the file lock, so this shows
// what parallel groups cost or save on the embedded store.
func BenchmarkProcessBatch(b *testing.B) {
	const batch = 10
	for _, variant := range []string{"first_delivery", "redelivery", "first_delivery_seq", "redelivery_seq"} {
		b.Run(variant, func(b *testing.B) {
			opts := setupOpts{}
			if strings.HasSuffix(variant, "_seq") {
				opts.concurrency = 1
			}
			bundle := setup(b, opts)
			msgs := make([][]domain.Message, b.N)
			for i := range msgs {
				for j := 0; j < batch; j++ {
					order := fmt.Sprintf("ord_%d_%d", i, j)
					bundle.createOrder(b, order, "", nil)
					body := fixture(b, "charge.refunded.partial.json", fmt.Sprintf("%d_%d", i, j), order, "pi_"+order)
					msgs[i] = append(msgs[i], message(b, order, body, ""))
				}
				if strings.HasPrefix(variant, "redelivery") {
					if failed := bundle.disp.ProcessBatch(bundle.ctx, msgs[i]); len(failed) > 0 {
						b.Fatalf("warm-up failed: %v", failed)
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if failed := bundle.disp.ProcessBatch(bundle.ctx, msgs[i]); len(failed) > 0 {
					b.Fatalf("failed: %v", failed)
				}
			}
		})
	}
}
