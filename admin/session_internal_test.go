package admin

import (
	"fmt"
	"testing"
)

// TestRevocationsAreBounded: the signed-out set never grows past maxRevoked;
// expired ids go first, then those closest to expiring.
func TestRevocationsAreBounded(t *testing.T) {
	var v revocations
	const now = 1_000_000
	for i := 0; i < maxRevoked; i++ {
		v.revoke(fmt.Sprint("old", i), now-1, now-10) // expired by now
	}
	v.revoke("keep", now+100, now)
	if len(v.ids) != 1 || !v.revoked("keep") {
		t.Fatalf("after pruning: %d ids, keep revoked %v", len(v.ids), v.revoked("keep"))
	}
	for i := 0; i < maxRevoked+5; i++ {
		v.revoke(fmt.Sprint("s", i), now+1000+int64(i), now)
	}
	if len(v.ids) != maxRevoked || v.revoked("keep") || !v.revoked(fmt.Sprint("s", maxRevoked+4)) {
		t.Errorf("over the bound: %d ids, keep %v, newest %v", len(v.ids), v.revoked("keep"), v.revoked(fmt.Sprint("s", maxRevoked+4)))
	}
}
