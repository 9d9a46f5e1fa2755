package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Session settings (SPEC §12).
const (
	sessionCookie = "orderflow_session"
	// signinCookie carries the nonce the sign-in form's CSRF token is made
	// from, as there is no session yet to bind it to.
	signinCookie = "orderflow_signin"
	sessionTTL   = 8 * time.Hour
	signinTTL    = time.Hour
	csrfField    = "csrf"
)

// session is what the signed cookie holds. No token: only who, which token
// (by fingerprint), when signed in and until when, and a random id the CSRF
// token is bound to and sign-out revokes.
type session struct {
	ActorID     string `json:"a"`
	Role        Role   `json:"r"`
	Fingerprint string `json:"f"`
	Issued      int64  `json:"i"`
	Expires     int64  `json:"e"`
	ID          string `json:"s"`
}

// maxRevoked bounds the signed-out sessions remembered: far more sign-outs
// than 8 hours of operators make. When full, the one closest to expiring
// anyway is forgotten first.
const maxRevoked = 10000

// revocations are the ids of sessions signed out in this process, each kept
// until the session would have expired. Sessions are stateless signed
// cookies, so this ends a session for `serve` and for the Lambda container
// that handled the sign-out; other containers accept a copied cookie until
// it expires or its token is rotated.
type revocations struct {
	mu  sync.Mutex
	ids map[string]int64 // session id -> its expiry, unix seconds
}

// revoke remembers id until expires, pruning what has expired.
func (v *revocations) revoke(id string, expires, now int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ids == nil {
		v.ids = map[string]int64{}
	}
	if len(v.ids) >= maxRevoked {
		for k, e := range v.ids {
			if e <= now {
				delete(v.ids, k)
			}
		}
	}
	for len(v.ids) >= maxRevoked {
		oldest, at := "", int64(0)
		for k, e := range v.ids {
			if oldest == "" || e < at {
				oldest, at = k, e
			}
		}
		delete(v.ids, oldest)
	}
	v.ids[id] = expires
}

// revoked reports whether id was signed out.
func (v *revocations) revoked(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.ids[id]
	return ok
}

func (s session) principal() Principal {
	return Principal{ActorID: s.ActorID, Role: s.Role, fingerprint: s.Fingerprint}
}

// sign returns "<payload>.<HMAC-SHA256(key, purpose|payload)>", both
// base64url. purpose keeps a value signed for one use from passing for
// another.
func sign(key []byte, purpose string, v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(raw)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(key, purpose, payload)), nil
}

// verify checks a value made by sign and decodes it into v.
func verify(key []byte, purpose, value string, v any) bool {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(key, purpose, payload)) {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	return err == nil && json.Unmarshal(raw, v) == nil
}

func mac(key []byte, purpose, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// csrfToken is the form token bound to a session (or sign-in nonce) id.
func csrfToken(key []byte, purpose, id string) string {
	return base64.RawURLEncoding.EncodeToString(mac(key, "csrf:"+purpose, id))
}

func randomID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secure reports whether the request reached us over HTTPS, directly or
// through API Gateway or a proxy (X-Forwarded-Proto).
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https")
}

func (h *Handler) cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: baseOf(r.Context()) + ConsolePrefix + "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge.Seconds())
		c.Expires = h.clock.Now().Add(maxAge)
	}
	return c
}

// readSession returns the request's valid, unexpired session.
func (h *Handler) readSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	var s session
	now := h.clock.Now().Unix()
	if !verify(h.sessionKey(r.Context()), "session", c.Value, &s) || now >= s.Expires || s.ID == "" ||
		s.Issued == 0 || s.Issued > now+60 || s.Expires-s.Issued > int64(sessionTTL.Seconds()) || h.revoked.revoked(s.ID) {
		return session{}, false
	}
	return s, true
}

func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, p Principal) error {
	now := h.clock.Now()
	s := session{ActorID: p.ActorID, Role: p.Role, Fingerprint: p.fingerprint, Issued: now.Unix(), Expires: now.Add(sessionTTL).Unix(), ID: randomID()}
	v, err := sign(h.sessionKey(r.Context()), "session", s)
	if err != nil {
		return err
	}
	http.SetCookie(w, h.cookie(r, sessionCookie, v, sessionTTL))
	http.SetCookie(w, h.cookie(r, signinCookie, "", -1))
	return nil
}

// endSession signs the request's session out: its id is revoked in this
// process and its cookie deleted.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	if s, ok := h.readSession(r); ok {
		h.revoked.revoke(s.ID, s.Expires, h.clock.Now().Unix())
	}
	http.SetCookie(w, h.cookie(r, sessionCookie, "", -1))
}
