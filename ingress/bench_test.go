package ingress_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/orderflow/orderflow/infra/secrets"
	"github.com/orderflow/orderflow/ingress"
)

// BenchmarkWebhook measures one accepted delivery end to end through the
// handler into the real SQLite queue. The variants show what a secret
// rotation (two secrets, event signed with the second) and a rejected
// signature cost next to the plain case.
func BenchmarkWebhook(b *testing.B) {
	const other = "whsec_rotation_other_secret_for_bench"
	cases := []struct {
		name     string
		secrets  string
		signWith string
		want     int
	}{
		{"one_secret", secretCurrent, secretCurrent, http.StatusOK},
		{"rotation_second_secret", other + "," + secretCurrent, secretCurrent, http.StatusOK},
		{"bad_signature", secretCurrent, other, http.StatusBadRequest},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			bundle := setup(b, func(c *ingress.Config) { c.Secrets = secrets.NewStatic("", tc.secrets) })
			template := fixture(b, "payment_intent.succeeded")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A distinct event id per delivery, so the queue's dedup window
				// does not turn the benchmark into a no-op.
				body := bytes.Replace(template, []byte(`"id": "evt_`), []byte(fmt.Sprintf(`"id": "evt_%d_`, i)), 1)
				rec := post(bundle.handler, "/webhooks/stripe", body, sign(body, tc.signWith, now))
				if rec.Code != tc.want {
					b.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
				}
			}
		})
	}
}
