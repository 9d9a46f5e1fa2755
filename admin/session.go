package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
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
// (by fingerprint), until when, and a random id the CSRF token is bound to.
type session struct {
	ActorID     string `json:"a"`
	Role        Role   `json:"r"`
	Fingerprint string `json:"f"`
	Expires     int64  `json:"e"`
	ID          string `json:"s"`
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
	if !verify(h.sessionKey(r.Context()), "session", c.Value, &s) || h.clock.Now().Unix() >= s.Expires || s.ID == "" {
		return session{}, false
	}
	return s, true
}

func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, p Principal) error {
	s := session{ActorID: p.ActorID, Role: p.Role, Fingerprint: p.fingerprint, Expires: h.clock.Now().Add(sessionTTL).Unix(), ID: randomID()}
	v, err := sign(h.sessionKey(r.Context()), "session", s)
	if err != nil {
		return err
	}
	http.SetCookie(w, h.cookie(r, sessionCookie, v, sessionTTL))
	http.SetCookie(w, h.cookie(r, signinCookie, "", -1))
	return nil
}
