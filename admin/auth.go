package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/orderflow/orderflow/infra/secrets"
)

// Role is what a token may do (SPEC §12).
type Role string

// Roles.
const (
	// RoleViewer reads orders and the DLQ.
	RoleViewer Role = secrets.RoleViewer
	// RoleOperator reads and acts.
	RoleOperator Role = secrets.RoleOperator
	// RoleService may only ask GET /v1/access.
	RoleService Role = secrets.RoleService
)

// TokenPrefix starts every token `orderflow admin token new` makes, so secret
// scanners and people recognise one.
const TokenPrefix = "ofadm_"

// NewToken returns a fresh random token (256 bits) and the hex SHA-256 that
// configures it.
func NewToken() (token, sha256hex string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is the lowercase hex SHA-256 of token, as configured.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Principal is who a request acts as.
type Principal struct {
	ActorID string
	Role    Role
	// fingerprint is the start of the token's hash: a session names its
	// token, so removing the token ends the session too.
	fingerprint string
}

// can reports whether p may use a route that needs role need. Operators may
// do what viewers may; service tokens only what needs RoleService.
func (p Principal) can(need Role) bool {
	switch need {
	case RoleViewer:
		return p.Role == RoleViewer || p.Role == RoleOperator
	case RoleOperator:
		return p.Role == RoleOperator
	case RoleService:
		return p.Role == RoleService
	}
	return false
}

var (
	errUnauthenticated = errors.New("unknown or missing token")
	errTokenSource     = errors.New("admin tokens cannot be read")
)

// authenticate finds the configured token whose hash matches token's. Every
// configured hash is compared, in constant time, so the time taken says
// nothing about which one (or how much of one) matched. A miss refetches the
// tokens once (rate-limited by the source) in case one was just added.
func (h *Handler) authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, errUnauthenticated
	}
	sum := sha256.Sum256([]byte(token))
	set, err := h.cfg.Tokens.AdminTokens(ctx)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", errTokenSource, err)
	}
	if p, ok := match(set, sum[:]); ok {
		return p, nil
	}
	set, err = h.cfg.Tokens.RefreshAdminTokens(ctx)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", errTokenSource, err)
	}
	if p, ok := match(set, sum[:]); ok {
		return p, nil
	}
	return Principal{}, errUnauthenticated
}

func match(set secrets.AdminTokenSet, sum []byte) (Principal, bool) {
	found := -1
	for i, t := range set.Tokens {
		want, err := hex.DecodeString(t.SHA256)
		if err != nil || len(want) != len(sum) {
			continue
		}
		if subtle.ConstantTimeCompare(want, sum) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	t := set.Tokens[found]
	return Principal{ActorID: t.ActorID, Role: Role(t.Role), fingerprint: t.SHA256[:16]}, true
}

// stillValid reports whether the token a session was opened with is still
// configured with the same actor and role.
func (h *Handler) stillValid(ctx context.Context, p Principal) (bool, error) {
	set, err := h.cfg.Tokens.AdminTokens(ctx)
	if err != nil {
		return false, err
	}
	for _, t := range set.Tokens {
		if t.ActorID == p.ActorID && Role(t.Role) == p.Role &&
			subtle.ConstantTimeCompare([]byte(t.SHA256[:16]), []byte(p.fingerprint)) == 1 {
			return true, nil
		}
	}
	return false, nil
}

// bearer reads "Authorization: Bearer <token>".
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// sessionKey is the key console cookies are signed with: the configured
// one, else the token secret's sessionKey, else this process's random key.
func (h *Handler) sessionKey(ctx context.Context) []byte {
	if len(h.cfg.SessionKey) > 0 {
		return h.cfg.SessionKey
	}
	if set, err := h.cfg.Tokens.AdminTokens(ctx); err == nil && set.SessionKey != "" {
		return []byte(set.SessionKey)
	}
	return h.randomKey
}
