package secrets_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/secrets"
)

var (
	hashA = strings.Repeat("a", 64)
	hashB = strings.Repeat("b", 64)
	hashC = strings.Repeat("C", 64)
)

func tokenSecret(entries ...string) string {
	return `{"adminTokens":[` + strings.Join(entries, ",") + `],"sessionKey":"LEAKCANARYsession0000000000000000000"}`
}

func tokenEntry(actor, role, sum string) string {
	return fmt.Sprintf(`{"actorId":%q,"role":%q,"sha256":%q}`, actor, role, sum)
}

func actors(set secrets.AdminTokenSet) string {
	var out []string
	for _, t := range set.Tokens {
		out = append(out, t.ActorID+":"+t.Role)
	}
	return strings.Join(out, ",")
}

func TestParseAdminTokens(t *testing.T) {
	t.Parallel()
	got, err := secrets.ParseAdminTokens(" adm_7:operator:" + hashA + " , svc:service:" + hashC + ",")
	if err != nil || len(got) != 2 || got[0] != (secrets.AdminToken{ActorID: "adm_7", Role: "operator", SHA256: hashA}) || got[1].SHA256 != strings.ToLower(hashC) {
		t.Fatalf("ParseAdminTokens = %+v, %v", got, err)
	}
	for _, bad := range []string{"adm_7:operator", "adm_7:root:" + hashA, ":viewer:" + hashA, "adm_7:viewer:LEAKCANARYnothex", "adm_7:viewer:" + hashA + "00"} {
		_, err := secrets.ParseAdminTokens(bad)
		if !errors.Is(err, domain.ErrInvalid) || strings.Contains(err.Error(), "LEAKCANARY") {
			t.Errorf("ParseAdminTokens(%q) = %v, want ErrInvalid without the value", bad, err)
		}
	}
}

func TestAdminTokensFromSecretsManager(t *testing.T) {
	t.Parallel()
	b := setup(t)
	arn := b.secret(t, "admin-tokens", tokenSecret(tokenEntry("adm_7", "operator", hashA)))
	a, err := secrets.NewAdminTokens(secrets.AdminTokensConfig{
		SecretARN: arn, Client: b.app, Clock: b.clock, Env: "adm_env:viewer:" + hashB,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Configured() {
		t.Fatal("Configured() = false with an ARN")
	}
	set, err := a.AdminTokens(ctx(t))
	if err != nil || actors(set) != "adm_7:operator,adm_env:viewer" || set.SessionKey == "" {
		t.Fatalf("AdminTokens = %s (session key set: %v), %v; want the secret's and the env's", actors(set), set.SessionKey != "", err)
	}

	// A rotation adds a token: an unknown token refetches at once, once per 30 s.
	b.put(t, arn, tokenSecret(tokenEntry("adm_7", "operator", hashA), tokenEntry("adm_8", "viewer", hashC)))
	b.clock.Advance(time.Second)
	if set, _ := a.AdminTokens(ctx(t)); actors(set) != "adm_7:operator,adm_env:viewer" || b.gets.Load() != 1 {
		t.Fatalf("within the TTL: %s after %d fetches, want the cached set after 1", actors(set), b.gets.Load())
	}
	set, err = a.RefreshAdminTokens(ctx(t))
	if err != nil || actors(set) != "adm_7:operator,adm_8:viewer,adm_env:viewer" || b.gets.Load() != 2 {
		t.Fatalf("refresh = %s after %d fetches, %v; want the new token after 2", actors(set), b.gets.Load(), err)
	}
	b.put(t, arn, tokenSecret(tokenEntry("adm_8", "viewer", hashC)))
	b.clock.Advance(29 * time.Second)
	if _, err := a.RefreshAdminTokens(ctx(t)); err != nil || b.gets.Load() != 2 {
		t.Fatalf("a second refresh within 30 s fetched again (%d fetches)", b.gets.Load())
	}
	// After the TTL the removed token is gone without any refresh.
	b.clock.Advance(5 * time.Minute)
	if set, _ := a.AdminTokens(ctx(t)); actors(set) != "adm_8:viewer,adm_env:viewer" {
		t.Fatalf("after the TTL: %s, want the removed token gone", actors(set))
	}
}

func TestAdminTokensMalformedSecret(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, value := range map[string]string{
		"not JSON":      "LEAKCANARY plain",
		"no list":       `{"tokens":[]}`,
		"bad role":      tokenSecret(tokenEntry("adm_7", "root", hashA)),
		"bad hash":      tokenSecret(tokenEntry("adm_7", "viewer", "LEAKCANARY")),
		"short session": `{"adminTokens":[],"sessionKey":"LEAKCANARY"}`,
	} {
		arn := b.secret(t, strings.ReplaceAll(name, " ", "-"), value)
		a, err := secrets.NewAdminTokens(secrets.AdminTokensConfig{SecretARN: arn, Client: b.app, Clock: b.clock})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.AdminTokens(ctx(t))
		if !errors.Is(err, domain.ErrInvalid) || strings.Contains(err.Error(), "LEAKCANARY") {
			t.Errorf("%s: %v, want ErrInvalid naming the shape, never the value", name, err)
		}
	}
	if _, err := secrets.NewAdminTokens(secrets.AdminTokensConfig{SecretARN: "arn:x"}); err == nil {
		t.Errorf("an ARN without a client is accepted")
	}
	none, _ := secrets.NewAdminTokens(secrets.AdminTokensConfig{})
	if set, err := none.AdminTokens(ctx(t)); none.Configured() || err != nil || len(set.Tokens) != 0 {
		t.Errorf("no tokens: configured %v, %d tokens, %v", none.Configured(), len(set.Tokens), err)
	}
}

// TestAdminTokensRefuseOneHashTwice: the same sha256 for two entries would
// let the first silently win, so it is refused, naming the actors and never
// the hash, in ORDERFLOW_ADMIN_TOKENS, in the secret and between the two.
func TestAdminTokensRefuseOneHashTwice(t *testing.T) {
	t.Parallel()
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, domain.ErrInvalid) || !strings.Contains(err.Error(), "adm_8") || !strings.Contains(err.Error(), "adm_7") ||
			!strings.Contains(err.Error(), "same sha256") || strings.Contains(err.Error(), hashA) {
			t.Errorf("%s: %v, want ErrInvalid naming adm_8 and adm_7, never the hash", what, err)
		}
	}
	_, err := secrets.ParseAdminTokens("adm_8:viewer:" + hashA + ",adm_7:operator:" + strings.ToUpper(hashA))
	refused("env", err)
	_, err = secrets.NewAdminTokens(secrets.AdminTokensConfig{Env: "adm_8:viewer:" + hashA + ",adm_7:operator:" + hashA})
	refused("NewAdminTokens", err)
	_, err = secrets.ParseAdminTokenSecret("admin-tokens", tokenSecret(tokenEntry("adm_8", "viewer", hashA), tokenEntry("adm_7", "operator", hashA)))
	refused("secret", err)

	b := setup(t)
	arn := b.secret(t, "dup-admin-tokens", tokenSecret(tokenEntry("adm_8", "viewer", hashA), tokenEntry("adm_7", "operator", hashA)))
	a, err := secrets.NewAdminTokens(secrets.AdminTokensConfig{SecretARN: arn, Client: b.app, Clock: b.clock})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.AdminTokens(ctx(t))
	refused("Secrets Manager", err)
	arn = b.secret(t, "cross-admin-tokens", tokenSecret(tokenEntry("adm_8", "viewer", hashA)))
	a, err = secrets.NewAdminTokens(secrets.AdminTokensConfig{SecretARN: arn, Client: b.app, Clock: b.clock, Env: "adm_7:operator:" + hashA})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.AdminTokens(ctx(t))
	refused("env and Secrets Manager", err)
}
