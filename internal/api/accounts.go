package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// maxAccountBody bounds the JSON body of the account and watchlist routes.
const maxAccountBody = 64 << 10

// userJSON is a user as the API shows it.
type userJSON struct {
	ID            int64  `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	CreatedAt     int64  `json:"created_at"` // Unix ms, UTC
}

func toUserJSON(u auth.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerifiedAt != nil, CreatedAt: u.CreatedAt.UnixMilli()}
}

type credentialsJSON struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginJSON struct {
	Token     string   `json:"token"`
	ExpiresAt int64    `json:"expires_at"` // Unix ms, UTC
	User      userJSON `json:"user"`
}

type apiKeyJSON struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Prefix     string `json:"prefix"`
	CreatedAt  int64  `json:"created_at"`   // Unix ms, UTC
	LastUsedAt *int64 `json:"last_used_at"` // Unix ms, UTC; null until used
	// Symbols are the patterns of the symbols the key may post ticks
	// for; [] for every symbol.
	Symbols []string `json:"symbols"`
	Secret  string   `json:"secret,omitempty"`
}

func toAPIKeyJSON(k auth.APIKey) apiKeyJSON {
	j := apiKeyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt.UnixMilli(), Symbols: k.Symbols.List()}
	if j.Symbols == nil {
		j.Symbols = []string{}
	}
	if k.LastUsedAt != nil {
		ms := k.LastUsedAt.UnixMilli()
		j.LastUsedAt = &ms
	}
	return j
}

// decodeBody decodes r's JSON body (at most maxAccountBody bytes, no
// unknown fields, one value) into v. A body that is not declared JSON is
// 415 (requireJSON); other problems are 400 bad_body or 413.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAccountBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errPayloadTooLarge(maxAccountBody)
		}
		if isTimeout(err) {
			return errRequestTimeout(a.cfg.BodyTimeout)
		}
		return &httpError{status: http.StatusBadRequest, code: "bad_body", message: "the body is not the expected JSON object: " + err.Error()}
	}
	return nil
}

// clean turns a domain error into one fit for a client: a validation
// error keeps only its field and rule, not-found names what, and the
// wrapping context (user ids, SQL) is dropped. Other errors pass through.
func clean(err error, what string) error {
	var ve *market.ValidationError
	switch {
	case errors.As(err, &ve):
		return &httpError{status: http.StatusBadRequest, code: "invalid", message: ve.Error()}
	case errors.Is(err, market.ErrNotFound):
		return errNotFound(what)
	}
	return err
}

func errNoAccounts() error {
	return fmt.Errorf("accounts are not configured: %w", market.ErrUnavailable)
}

// requireJSON refuses a body not declared application/json (parameters
// such as charset allowed) with 415 before it is read. HTML forms can only
// send form encodings or text/plain, and a no-cors fetch of a Blob sends no
// Content-Type at all, while a cross-site application/json request needs a
// CORS preflight that findash never grants: so another site cannot make a
// browser post here, e.g. to log it into the attacker's account (login CSRF).
func requireJSON(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && mt == "application/json" { // ParseMediaType lower-cases it
		return nil
	}
	return &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
		message: "the body must be JSON, sent with Content-Type: application/json",
		header:  http.Header{"Accept-Post": {"application/json"}}}
}

// limitAuth applies the signup/login limits: per client IP, then per
// client IP and e-mail address (normalised when it parses, so case or
// spaces do not buy more attempts). Not per e-mail alone: that would let
// anyone lock an account's owner out by failing its logins on purpose.
func (a *API) limitAuth(w http.ResponseWriter, r *http.Request, email string) bool {
	ip := a.clientIP(r)
	if !a.limit(w, r, "auth_ip", ip, a.cfg.AuthIPLimit) {
		return false
	}
	key, err := auth.NormalizeEmail(email)
	if err != nil {
		key = strings.ToLower(strings.TrimSpace(email))
		if len(key) > 254 {
			key = key[:254]
		}
	}
	return a.limit(w, r, "auth_ip_email", ip+" "+key, a.cfg.AuthAccountLimit)
}

// signup: POST /api/v1/auth/signup {email, password} → 201 user
// (email_verified false), and a verification link is mailed.
//
// An e-mail already registered answers 409 conflict. This tells whoever
// asks that the address has an account (enumeration); we accept it
// (decision 0030) and bound it with the signup limits (Config.AuthIPLimit,
// AuthAccountLimit). Login and password reset, by contrast, never say
// whether an address exists.
func (a *API) signup(w http.ResponseWriter, r *http.Request) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	var in credentialsJSON
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if !a.limitAuth(w, r, in.Email) {
		return
	}
	u, err := a.d.Accounts.SignUp(r.Context(), in.Email, in.Password)
	if errors.Is(err, market.ErrConflict) {
		err = &httpError{status: http.StatusConflict, code: "conflict", message: "an account with this e-mail address already exists"}
	}
	if err != nil {
		a.writeError(w, r, clean(err, "user"))
		return
	}
	a.writeJSON(w, r, http.StatusCreated, toUserJSON(u))
}

// login: POST /api/v1/auth/login {email, password} → 200 {token,
// expires_at, user}, and the session + CSRF cookies. A wrong password, an
// unknown address or a malformed one are the same 401.
func (a *API) login(w http.ResponseWriter, r *http.Request) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	var in credentialsJSON
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if !a.limitAuth(w, r, in.Email) {
		return
	}
	u, err := a.d.Accounts.Login(r.Context(), in.Email, in.Password)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	token, sess, err := a.d.Accounts.CreateSession(r.Context(), u.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.setSessionCookies(w, r, token, sess.ExpiresAt)
	a.writeJSON(w, r, http.StatusOK, loginJSON{Token: token, ExpiresAt: sess.ExpiresAt.UnixMilli(), User: toUserJSON(u)})
}

// logout: POST /api/v1/auth/logout → 204; revokes the session the request
// carries (cookie or bearer session token) and clears the cookies.
// Idempotent: no session, or one already gone, is still 204. A cookie
// session must pass the CSRF check, so another site cannot log a user out.
func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	token, cookie, ok := credentials(r)
	if ok && auth.IsSessionToken(token) {
		if cookie {
			if err := checkCSRF(r, token); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		// A lookup like any other: under the failed-lookup limit (none
		// without a session store: nothing is read, nothing counted).
		limited := a.cfg.AuthFailLimit.Rate >= 0 && a.d.Accounts.StoresSessions()
		ip := a.clientIP(r)
		if limited {
			if err := a.admitLookup(ip); err != nil {
				// Refused the lookup, the client still wants out: its
				// cookies go, the session lasts until it expires or a
				// logout within the budget.
				a.clearSessionCookies(w, r)
				a.writeError(w, r, err)
				return
			}
			defer a.authFails.end(ip) // after the count
		}
		found, err := a.d.Accounts.EndSession(r.Context(), token)
		if limited && !found && (err == nil || r.Context().Err() != nil) {
			a.countFailure(w, r, ip)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	a.clearSessionCookies(w, r)
	w.Header()["Cache-Control"] = noStore
	w.WriteHeader(http.StatusNoContent)
}

// me: GET /api/v1/me → the current user.
func (a *API) me(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	u, err := a.d.Accounts.User(r.Context(), p.UserID)
	if err != nil {
		// The session outlived its user: treat as logged out.
		if errors.Is(err, market.ErrNotFound) {
			err = auth.ErrUnauthenticated
		}
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, toUserJSON(u))
}

// wsToken: POST /api/v1/auth/ws-token → {token, expires_in}: a short-lived
// signed token for GET /ws?token=, verified by the gateway without I/O.
func (a *API) wsToken(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	token, exp := a.d.Accounts.WSToken(p) // names p's session: a gateway closes its connections when it ends
	a.writeJSON(w, r, http.StatusOK, struct {
		Token     string `json:"token"`
		ExpiresIn int64  `json:"expires_in"` // seconds
	}{token, int64(max(time.Second, exp.Sub(a.now())).Round(time.Second) / time.Second)})
}

// listAPIKeys: GET /api/v1/apikeys → {"data":[key…]} (oldest first; no
// secrets).
func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	keys, err := a.d.Accounts.ListAPIKeys(r.Context(), p.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := list[apiKeyJSON]{Data: make([]apiKeyJSON, 0, len(keys))}
	for _, k := range keys {
		out.Data = append(out.Data, toAPIKeyJSON(k))
	}
	a.writeJSON(w, r, http.StatusOK, out)
}

// createAPIKey: POST /api/v1/apikeys {name} → 201 key with its secret,
// shown this once; 409 too_many_api_keys past auth.MaxAPIKeys.
func (a *API) createAPIKey(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	var in struct {
		Name    string   `json:"name"`
		Symbols []string `json:"symbols"` // patterns; none: every symbol
	}
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	patterns, err := market.CheckSymbolPatterns(in.Symbols)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	secret, k, err := a.d.Accounts.CreateScopedAPIKey(r.Context(), p.UserID, in.Name, patterns)
	if auth.IsTooManyKeys(err) {
		err = &httpError{status: http.StatusConflict, code: "too_many_api_keys",
			message: "at most " + strconv.Itoa(auth.MaxAPIKeys) + " API keys per user; delete one first"}
	}
	if err != nil {
		a.writeError(w, r, clean(err, "user"))
		return
	}
	j := toAPIKeyJSON(k)
	j.Secret = secret
	a.writeJSON(w, r, http.StatusCreated, j)
}

// deleteAPIKey: DELETE /api/v1/apikeys/{id} → 204. Another user's key, or
// none, is 404 (never 403, so ids cannot be probed).
func (a *API) deleteAPIKey(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	id, ok := pathID(r)
	if !ok {
		a.writeError(w, r, errNotFound("api key "+truncID(r)))
		return
	}
	if err := a.d.Accounts.DeleteAPIKey(r.Context(), p.UserID, id); err != nil {
		a.writeError(w, r, clean(err, "api key "+strconv.FormatInt(id, 10)))
		return
	}
	w.Header()["Cache-Control"] = noStore
	w.WriteHeader(http.StatusNoContent)
}

// pathID parses the {id} path value: a positive decimal int64.
func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func truncID(r *http.Request) string {
	s := r.PathValue("id")
	if len(s) > 20 {
		s = s[:20] + "…"
	}
	return strconv.Quote(s)
}
