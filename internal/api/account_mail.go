package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/findash/findash/internal/auth"
)

// Account routes that work through mailed links (e-mail verification,
// password reset) and the session list. The links carry their token in
// the URL fragment (…/verify#token=…), which browsers never send to a
// server, so it reaches no access log or Referer; the page posts it here.

type tokenIn struct {
	Token string `json:"token"`
}

type emailIn struct {
	Email string `json:"email"`
}

func errBadToken() error {
	return &httpError{status: http.StatusBadRequest, code: "invalid_token", message: "the link is invalid, already used or expired; ask for a new one"}
}

// accountError maps the account-token errors for clients.
func accountError(err error) error {
	if errors.Is(err, auth.ErrBadToken) {
		return errBadToken()
	}
	return clean(err, "user")
}

// verifyEmail: POST /api/v1/auth/verify {token} → 200 user (verified).
// Limited like login (per IP).
func (a *API) verifyEmail(w http.ResponseWriter, r *http.Request) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	var in tokenIn
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if !a.limit(w, r, "auth_ip", a.clientIP(r), a.cfg.AuthIPLimit) {
		return
	}
	u, err := a.d.Accounts.VerifyEmail(r.Context(), in.Token)
	if err != nil {
		a.writeError(w, r, accountError(err))
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, toUserJSON(u))
}

// resendVerification: POST /api/v1/auth/verify/resend {email} → 202,
// whether or not the address has an unverified account (no enumeration).
// Limited like login (per IP, and per IP and address).
func (a *API) resendVerification(w http.ResponseWriter, r *http.Request) {
	a.mailRequest(w, r, a.d.Accounts.ResendVerification)
}

// requestPasswordReset: POST /api/v1/auth/password-reset {email} → 202,
// whether or not the address has an account (no enumeration; the mail is
// queued, so the answer takes as long either way). Limited like login.
func (a *API) requestPasswordReset(w http.ResponseWriter, r *http.Request) {
	a.mailRequest(w, r, a.d.Accounts.RequestPasswordReset)
}

// mailRequest answers a request that may send a mail to {email}: 202 in
// every case but a malformed body, a rate limit or a store failure.
func (a *API) mailRequest(w http.ResponseWriter, r *http.Request, send func(ctx context.Context, email string) error) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	var in emailIn
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if !a.limitAuth(w, r, in.Email) {
		return
	}
	if err := send(r.Context(), in.Email); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusAccepted, struct {
		Status string `json:"status"`
	}{"queued"})
}

// resetPassword: POST /api/v1/auth/password-reset/confirm {token,
// password} → 200 user. Every session of the user ends (sign in again).
// Limited like login (per IP).
func (a *API) resetPassword(w http.ResponseWriter, r *http.Request) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if !a.limit(w, r, "auth_ip", a.clientIP(r), a.cfg.AuthIPLimit) {
		return
	}
	u, err := a.d.Accounts.ResetPassword(r.Context(), in.Token, in.Password)
	if err != nil {
		a.writeError(w, r, accountError(err))
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, toUserJSON(u))
}

// sessionJSON is a session as the account page shows it.
type sessionJSON struct {
	ID        string `json:"id"`
	CreatedAt int64  `json:"created_at"` // Unix ms, UTC
	ExpiresAt int64  `json:"expires_at"` // Unix ms, UTC
	Current   bool   `json:"current"`    // the session of this request
}

// listSessions: GET /api/v1/sessions → {"data":[session…]}, newest first.
func (a *API) listSessions(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	ss, err := a.d.Accounts.ListSessions(r.Context(), p.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	token, _, _ := credentials(r)
	current := auth.SessionIDOf(token)
	out := list[sessionJSON]{Data: make([]sessionJSON, 0, len(ss))}
	for _, s := range ss {
		id := auth.SessionID(s)
		out.Data = append(out.Data, sessionJSON{ID: id, CreatedAt: s.CreatedAt.UnixMilli(), ExpiresAt: s.ExpiresAt.UnixMilli(), Current: id == current})
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, out)
}

var sessionIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// deleteSession: DELETE /api/v1/sessions/{id} → 204; ends that session
// (the current one too: that is a logout). Another user's, or none, is 404.
func (a *API) deleteSession(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Accounts == nil {
		a.writeError(w, r, errNoAccounts())
		return
	}
	id := r.PathValue("id")
	if !sessionIDPattern.MatchString(id) {
		a.writeError(w, r, errNotFound("session "+truncID(r)))
		return
	}
	if err := a.d.Accounts.RevokeUserSession(r.Context(), p.UserID, id); err != nil {
		a.writeError(w, r, clean(err, "session "+id))
		return
	}
	w.Header()["Cache-Control"] = noStore
	w.WriteHeader(http.StatusNoContent)
}
