package ingress

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An internal test: verifySignature is unexported, and the fuzzer must reach
// it without the HTTP layer in the way. The seed corpus is in
// testdata/fuzz/FuzzSignatureHeader.

var (
	fuzzSecrets   = []string{"whsec_fuzz_old_0123456789", "whsec_fuzz_new_9876543210"}
	fuzzNow       = time.Unix(1_700_000_000, 0)
	fuzzTolerance = 300 * time.Second
)

// FuzzSignatureHeader: verifySignature never panics, never reads an
// oversized header, and accepts only a header that carries, next to its
// timestamp, the HMAC of that timestamp and the body under a configured
// secret, checked here by a separate, naive reading of the header.
func FuzzSignatureHeader(f *testing.F) {
	body := []byte(`{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}`)
	good := fuzzHeader(fuzzNow.Unix(), body, fuzzSecrets[1])
	for _, h := range []string{
		good,
		good + ",v0=00",
		"t=1700000000,v1=" + strings.Repeat("0", 64),
		"t=1700000000,v1=" + strings.Repeat("ab", 32) + "," + strings.TrimPrefix(good, "t=1700000000,"),
		"t=1699999000," + strings.TrimPrefix(good, "t=1700000000,"),
		"v1=" + strings.Repeat("0", 64) + ",t=1700000000",
		"t=,v1=",
		"t=1700000000,t=1,v1=00",
		strings.Repeat("v1=00,", 20),
	} {
		f.Add(h, body)
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := verifySignature(body, header, fuzzSecrets, fuzzNow, fuzzTolerance)
		if err == nil && !naiveValid(header, body) {
			t.Fatalf("accepted header %q for a body it does not sign", header)
		}
		if err == nil && len(header) > MaxSignatureHeader {
			t.Fatalf("accepted a %d-byte header", len(header))
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n") {
			t.Fatalf("error is not one line: %q", err)
		}
	})
}

func fuzzHeader(ts int64, body []byte, secret string) string {
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(naiveMAC(ts, body, secret))
}

func naiveMAC(ts int64, body []byte, secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return m.Sum(nil)
}

// naiveValid is the rule written out plainly: the last t within tolerance,
// and some v1 entry equal to the HMAC under some secret.
func naiveValid(header string, body []byte) bool {
	var ts int64
	haveT := false
	var sigs [][]byte
	for _, pair := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return false
			}
			ts, haveT = n, true
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if !haveT {
		return false
	}
	if d := fuzzNow.Sub(time.Unix(ts, 0)); d > fuzzTolerance || d < -fuzzTolerance {
		return false
	}
	for _, secret := range fuzzSecrets {
		want := naiveMAC(ts, body, secret)
		for _, s := range sigs {
			if bytes.Equal(s, want) {
				return true
			}
		}
	}
	return false
}

func TestNaiveValidAgreesOnTheSeed(t *testing.T) {
	body := []byte(`{}`)
	h := fuzzHeader(fuzzNow.Unix(), body, fuzzSecrets[0])
	if err := verifySignature(body, h, fuzzSecrets, fuzzNow, fuzzTolerance); err != nil || !naiveValid(h, body) {
		t.Fatalf("a well-signed header: verifySignature %v, naive %v", err, naiveValid(h, body))
	}
	if naiveValid(h, []byte(`{ }`)) {
		t.Fatal("the naive check accepts a changed body")
	}
}
