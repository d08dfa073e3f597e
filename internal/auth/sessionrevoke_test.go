package auth_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/testenv"
)

// announced records the users whose session revocations a Service
// announced (the bus in production; cmd/findash's
// TestSessionRevocationClosesWebSockets runs that path end to end).
type announced struct {
	mu    sync.Mutex
	users []int64
}

func (a *announced) PublishSessionsRevoked(_ context.Context, userID int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users = append(a.users, userID)
	return nil
}

func (a *announced) take() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users
	a.users = nil
	return u
}

// TestSessionRevocationsAnnounced: every way a session ends — logout,
// revoking one session, a password reset — announces its user, so that
// the gateways close the WebSockets that session may have opened; a
// logout without a live session announces nothing.
func TestSessionRevocationsAnnounced(t *testing.T) {
	db := openDB(t)
	ann := &announced{}
	mails := &mailbox{}
	s := auth.NewService(db, argon2id.New(fastParams, 2), auth.Config{SessionRevocations: ann, Mailer: mails}, nil)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, "ann@example.com", "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	session := func() string {
		t.Helper()
		tok, _, err := s.CreateSession(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	want := []int64{u.ID}

	tok := session()
	if err := s.RevokeSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got := ann.take(); !slices.Equal(got, want) {
		t.Errorf("logout announced %v, want %v", got, want)
	}
	if err := s.RevokeSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got := ann.take(); got != nil {
		t.Errorf("logout of a session already gone announced %v, want nothing", got)
	}

	session()
	ss, err := s.ListSessions(ctx, u.ID)
	if err != nil || len(ss) != 1 {
		t.Fatalf("ListSessions = %v, %v", ss, err)
	}
	if err := s.RevokeUserSession(ctx, u.ID, auth.SessionID(ss[0])); err != nil {
		t.Fatal(err)
	}
	if got := ann.take(); !slices.Equal(got, want) {
		t.Errorf("revoking a session announced %v, want %v", got, want)
	}

	session()
	if err := s.RequestPasswordReset(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	var reset string
	testenv.Eventually(t, 5*time.Second, func() bool {
		mails.mu.Lock()
		defer mails.mu.Unlock()
		for _, b := range mails.bodies {
			if m := regexp.MustCompile(`reset-password#token=([A-Za-z0-9_-]+)`).FindStringSubmatch(b); m != nil {
				reset = m[1]
			}
		}
		return reset != ""
	}, "a reset mail")
	if _, err := s.ResetPassword(ctx, reset, "a-new-password-1"); err != nil {
		t.Fatal(err)
	}
	if got := ann.take(); !slices.Equal(got, want) {
		t.Errorf("a password reset announced %v, want %v", got, want)
	}
}

// TestWSTokensRefusedAfterSessionsEnded: a WS token names no session, so
// when a session of its user ends (here or, told over the bus, on another
// instance) every WS token of the user issued until then is refused:
// before, the WebSocket closed because its session ended was reopened at
// once with a WS token made from that session, still within its minute.
// A token issued afterwards, and another user's, still open connections.
func TestWSTokensRefusedAfterSessionsEnded(t *testing.T) {
	s, _, c := newService(t)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, "ws@example.com", "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	sess, _, err := s.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.WSToken(auth.Principal{UserID: u.ID})
	others, _ := s.WSToken(auth.Principal{UserID: u.ID + 1})
	c.Add(time.Millisecond)
	if err := s.RevokeSession(ctx, sess); err != nil { // logout, no bus
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, before); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a WS token issued before the logout: error %v, want ErrUnauthenticated", err)
	}
	if uid, err := s.AuthenticateToken(ctx, others); err != nil || uid != u.ID+1 {
		t.Errorf("another user's WS token = %d, %v; want %d", uid, err, u.ID+1)
	}
	c.Add(time.Millisecond)
	after, _ := s.WSToken(auth.Principal{UserID: u.ID})
	if uid, err := s.AuthenticateToken(ctx, after); err != nil || uid != u.ID {
		t.Errorf("a WS token issued after the logout = %d, %v; want %d", uid, err, u.ID)
	}

	// Announced by another instance: SessionsEnded, as the relay calls it.
	c.Add(time.Millisecond)
	s.SessionsEnded(u.ID)
	if _, err := s.AuthenticateToken(ctx, after); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a WS token issued before a session ended elsewhere: error %v, want ErrUnauthenticated", err)
	}
	c.Add(time.Millisecond)
	fresh, _ := s.WSToken(auth.Principal{UserID: u.ID})
	if _, err := s.AuthenticateToken(ctx, fresh); err != nil {
		t.Errorf("a WS token issued after: %v", err)
	}
	// The record is forgotten once every token it refuses has expired,
	// and refuses nothing issued later.
	c.Add(2 * auth.DefaultWSTokenTTL)
	s.SessionsEnded(u.ID + 1)
	c.Add(time.Millisecond)
	late, _ := s.WSToken(auth.Principal{UserID: u.ID})
	if _, err := s.AuthenticateToken(ctx, late); err != nil {
		t.Errorf("a WS token issued two TTLs after: %v", err)
	}
}
