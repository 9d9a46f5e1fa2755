package ingress

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// Bounds on the Stripe-Signature header. Stripe sends one t, one v1 per
// active signing secret (two while a secret is rolled) and, in test mode, a
// v0: well under a few hundred bytes. Without bounds a header with 10,000 v1
// entries cost 80× a normal bad signature to reject (issue 12, item 6); with
// them every header costs at most MaxSignatureHeader bytes of parsing and
// MaxV1Signatures comparisons per secret.
const (
	MaxSignatureHeader = 4 << 10
	MaxV1Signatures    = 8
)

// Verification failures. The messages are what a developer sees with curl, so
// they say what to fix; none of them carries a secret or the header value.
var (
	errNoSignature   = errors.New("missing Stripe-Signature header; Stripe signs every webhook, and test requests must be signed with the endpoint's signing secret")
	errBadHeader     = errors.New("malformed Stripe-Signature header: want t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">")
	errLongHeader    = fmt.Errorf("malformed Stripe-Signature header: longer than %d bytes", MaxSignatureHeader)
	errManyV1        = fmt.Errorf("malformed Stripe-Signature header: more than %d v1 signatures", MaxV1Signatures)
	errNoMatchingSig = errors.New("no v1 signature in the Stripe-Signature header matches the body with any configured signing secret (wrong secret, or the body was changed after signing)")
)

// signedHeader is a parsed Stripe-Signature header.
type signedHeader struct {
	timestamp  time.Time
	signatures [][]byte
}

// parseSignatureHeader reads "t=…,v1=…[,v1=…][,v0=…]". Several v1 entries
// appear while Stripe rolls an endpoint's secret; other schemes are ignored.
// The length is checked before anything else so that rejecting an oversized
// header costs nothing in proportion to its size.
func parseSignatureHeader(header string) (signedHeader, error) {
	var sh signedHeader
	if len(header) > MaxSignatureHeader {
		return sh, errLongHeader
	}
	if strings.TrimSpace(header) == "" {
		return sh, errNoSignature
	}
	haveT, v1 := false, 0
	for rest := header; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, ",")
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || v == "" {
			return sh, errBadHeader
		}
		switch k {
		case "t":
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return sh, errBadHeader
			}
			sh.timestamp, haveT = time.Unix(sec, 0), true
		case "v1":
			// Counted before decoding, so entries that do not decode still
			// count against the bound.
			if v1++; v1 > MaxV1Signatures {
				return sh, errManyV1
			}
			sig, err := hex.DecodeString(v)
			if err != nil {
				continue // as stripe-go does: one bad entry must not hide a good one
			}
			sh.signatures = append(sh.signatures, sig)
		}
	}
	if !haveT || len(sh.signatures) == 0 {
		return sh, errBadHeader
	}
	return sh, nil
}

// verifySignature checks header against raw with every secret. It does the
// work of webhook.ValidatePayloadWithTolerance but measures the tolerance on
// the injected clock and in both directions: stripe-go uses time.Now and lets
// timestamps from the future through. The HMAC over the body, the expensive
// part, is computed once per secret, never once per v1 entry.
func verifySignature(raw []byte, header string, secrets []string, now time.Time, tolerance time.Duration) error {
	sh, err := parseSignatureHeader(header)
	if err != nil {
		return err
	}
	if age := now.Sub(sh.timestamp); age > tolerance {
		return fmt.Errorf("signature timestamp is %s old, outside the %gs tolerance; sign with the current time (replayed or delayed request?)", age.Round(time.Second), tolerance.Seconds())
	} else if -age > tolerance {
		return fmt.Errorf("signature timestamp is %s in the future, outside the %gs tolerance; check the signer's clock", (-age).Round(time.Second), tolerance.Seconds())
	}
	for _, secret := range secrets {
		expected := webhook.ComputeSignature(sh.timestamp, raw, secret)
		for _, sig := range sh.signatures {
			if hmac.Equal(expected, sig) {
				return nil
			}
		}
	}
	return errNoMatchingSig
}
