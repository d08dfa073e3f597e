package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/findash/findash/internal/auth"
)

// seenToken records the token the API hands to the authenticator.
type seenToken struct{ tok *string }

func (s seenToken) Authenticate(_ context.Context, bearer string) (auth.Principal, error) {
	*s.tok = bearer
	return auth.Principal{}, auth.ErrUnauthenticated
}

func (s seenToken) AuthenticateCached(ctx context.Context, bearer string) (auth.Principal, error) {
	return s.Authenticate(ctx, bearer)
}

// FuzzAuthorizationHeader feeds arbitrary Authorization headers (and a
// session cookie) to the API's credential parsing (authenticate for ingest,
// credentials for the session routes): it never panics, and hands on only
// the token of a "Bearer <token>" header — non-empty, trimmed — or, with no
// header at all, the cookie. Long run:
// go test -run '^$' -fuzz FuzzAuthorizationHeader -fuzztime 10m ./internal/api
func FuzzAuthorizationHeader(f *testing.F) {
	for _, seed := range []string{
		"Bearer fd_abc", "bearer  fds_xyz ", "BEARER\tx", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", " Bearer x",
		"", "Bearer a b", "Bearerx y", "Bearer \x00", "Bearer " + strings.Repeat("A", 5000), "Bearer\u00a0x",
	} {
		f.Add(seed, "fds_cookie")
	}
	var tok string
	a := &API{d: Deps{Auth: seenToken{&tok}}}
	f.Fuzz(func(t *testing.T, header, cookie string) {
		r, err := http.NewRequest("POST", "http://x/api/v1/ticks", nil)
		if err != nil {
			t.Skip()
		}
		if header != "" {
			r.Header["Authorization"] = []string{header}
		}
		if cookie != "" {
			r.Header["Cookie"] = []string{SessionCookie + "=" + cookie}
		}
		tok = ""
		if _, err := a.authenticate(httptest.NewRecorder(), r); err == nil {
			t.Fatalf("authenticate(%q) = nil error with an authenticator that refuses everything", header)
		}
		scheme, rest, found := strings.Cut(header, " ")
		if tok != "" {
			if !found || !strings.EqualFold(scheme, "Bearer") || tok != strings.TrimSpace(rest) {
				t.Fatalf("authenticate(%q) handed on %q, not the bearer token", header, tok)
			}
		}
		got, fromCookie, ok := credentials(r)
		switch {
		case !ok:
			if got != "" {
				t.Fatalf("credentials(%q) = %q with ok false", header, got)
			}
		case fromCookie:
			if header != "" {
				t.Fatalf("credentials(%q) took the cookie although the header is set", header)
			}
		default:
			if got == "" || !found || !strings.EqualFold(scheme, "Bearer") || got != strings.TrimSpace(rest) {
				t.Fatalf("credentials(%q) = %q, not the bearer token", header, got)
			}
		}
	})
}
