package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/findash/findash/internal/auth"
)

// Cookies of a browser session (docs/reference/http.md). The gateway reads
// SessionCookie too (GET /ws).
const (
	// SessionCookie holds the session token: HttpOnly, SameSite=Lax,
	// Secure when the request came over TLS.
	SessionCookie = "findash_session"
	// CSRFCookie holds the CSRF token, readable by the page's script, which
	// echoes it in CSRFHeader on every unsafe request.
	CSRFCookie = "findash_csrf"
	// CSRFHeader carries the CSRF token on cookie-authenticated writes.
	CSRFHeader = "X-CSRF-Token"
)

// csrfToken derives the CSRF token of a session token: base64url of
// SHA-256("findash-csrf-v1\0" + token). It is a "signed double submit"
// without a server key: a page on another site can neither read the
// findash_csrf cookie nor compute the token (it would need the HttpOnly
// session token), and a cookie planted by a sibling subdomain does not
// match the session. It is deterministic, so every instance agrees on it
// and nothing is stored.
func csrfToken(sessionToken string) string {
	h := sha256.Sum256([]byte("findash-csrf-v1\x00" + sessionToken))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func errCSRF() error {
	return &httpError{status: http.StatusForbidden, code: "csrf_failed",
		message: "cookie-authenticated writes need the " + CSRFHeader + " header holding the " + CSRFCookie + " cookie"}
}

func errSessionOnly() error {
	return &httpError{status: http.StatusForbidden, code: "forbidden",
		message: "this route needs a session (log in); API keys are for ingest"}
}

// safeMethod reports whether m cannot change state, so needs no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// credentials returns the request's token and whether it came from the
// session cookie. An Authorization header wins over the cookie (and a
// malformed one is not ignored in favour of it).
func credentials(r *http.Request) (token string, cookie bool, ok bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, found := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", false, false
		}
		return tok, false, true
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return c.Value, true, true
	}
	return "", false, false
}

// checkCSRF enforces the double submit on a cookie-authenticated request
// with an unsafe method: the header must equal the cookie, and both the
// token derived from the session.
func checkCSRF(r *http.Request, sessionToken string) error {
	if safeMethod(r.Method) {
		return nil
	}
	h := r.Header.Get(CSRFHeader)
	c, err := r.Cookie(CSRFCookie)
	want := csrfToken(sessionToken)
	if h == "" || err != nil ||
		subtle.ConstantTimeCompare([]byte(h), []byte(c.Value)) != 1 ||
		subtle.ConstantTimeCompare([]byte(h), []byte(want)) != 1 {
		return errCSRF()
	}
	return nil
}

// withSession wraps a handler of a route that needs a logged-in user: a
// session cookie or a bearer session token (API keys get 403 forbidden,
// nothing valid 401 unauthenticated). Cookie-authenticated unsafe requests
// must pass the CSRF check (403 csrf_failed); bearer requests are exempt,
// since a browser never adds that header on its own. Requests are then
// limited per user (Config.UserLimit).
func (a *API) withSession(h func(w http.ResponseWriter, r *http.Request, p auth.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, cookie, ok := credentials(r)
		if !ok {
			a.writeError(w, r, auth.ErrUnauthenticated)
			return
		}
		p, err := a.checkCredential(w, r, token)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if p.APIKeyID != 0 {
			a.writeError(w, r, errSessionOnly())
			return
		}
		if cookie {
			if err := checkCSRF(r, token); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if !a.limit(w, r, "user", strconv.FormatInt(p.UserID, 10), a.cfg.UserLimit) {
			return
		}
		h(w, r, p)
	}
}

// secureRequest reports whether the client reached us over TLS: directly,
// or (with Config.TrustProxy) through a proxy that says so.
func (a *API) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return a.cfg.TrustProxy && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// setSessionCookies sets the session and CSRF cookies until expires.
func (a *API) setSessionCookies(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	maxAge := max(1, int(expires.Sub(a.now()).Seconds()))
	secure := a.secureRequest(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: csrfToken(token), Path: "/", MaxAge: maxAge,
		Secure: secure, SameSite: http.SameSiteLaxMode})
}

// clearSessionCookies tells the browser to drop both cookies.
func (a *API) clearSessionCookies(w http.ResponseWriter, r *http.Request) {
	secure := a.secureRequest(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: secure, SameSite: http.SameSiteLaxMode})
}
