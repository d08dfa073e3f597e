package auth_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/redis"
	"github.com/findash/findash/internal/testenv"
)

// mailbox keeps the mails a Service sends.
type mailbox struct {
	mu     sync.Mutex
	bodies []string
}

func (m *mailbox) Enqueue(_, _, body string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bodies = append(m.bodies, body)
	return true
}

// TestRedisSessionsListedAndEndedByReset: with sessions in Redis, a user's
// sessions are listed (newest first) and a password reset ends every one
// of them — not another user's.
func TestRedisSessionsListedAndEndedByReset(t *testing.T) {
	r := testenv.Redis(t)
	rc, err := redis.Open(t.Context(), r.URL, redis.Config{Prefix: r.Prefix}, nil, nil)
	if err != nil {
		t.Fatalf("redis.Open: %v", err)
	}
	t.Cleanup(func() { rc.Close() })
	db := openDB(t)
	mails := &mailbox{}
	s := auth.NewService(db, argon2id.New(fastParams, 2), auth.Config{Sessions: auth.KVSessions(rc, nil), Mailer: mails, PublicURL: "https://findash.example"}, nil)
	ctx := t.Context()
	ann, err := s.CreateUser(ctx, "ann@example.com", "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, "bob@example.com", "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	var annTokens []string
	for range 3 {
		tok, _, err := s.CreateSession(ctx, ann.ID)
		if err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		annTokens = append(annTokens, tok)
	}
	bobToken, _, err := s.CreateSession(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := s.ListSessions(ctx, ann.ID)
	if err != nil {
		t.Fatalf("ListSessions with Redis sessions: %v", err)
	}
	if len(ss) != 3 {
		t.Fatalf("ListSessions = %d sessions, want 3", len(ss))
	}
	if err := s.RevokeUserSession(ctx, ann.ID, auth.SessionID(ss[0])); err != nil {
		t.Fatalf("RevokeUserSession: %v", err)
	}
	if ss, _ = s.ListSessions(ctx, ann.ID); len(ss) != 2 {
		t.Fatalf("ListSessions after a revocation = %d, want 2", len(ss))
	}

	if err := s.RequestPasswordReset(ctx, "ann@example.com"); err != nil {
		t.Fatalf("RequestPasswordReset: %v", err)
	}
	var token string
	testenv.Eventually(t, 5*time.Second, func() bool {
		mails.mu.Lock()
		defer mails.mu.Unlock()
		for _, b := range mails.bodies {
			if m := regexp.MustCompile(`token=([A-Za-z0-9_-]+)`).FindStringSubmatch(b); m != nil {
				token = m[1]
			}
		}
		return token != ""
	}, "a reset mail")
	if _, err := s.ResetPassword(ctx, token, "a-new-password-1"); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	for i, tok := range annTokens {
		if _, err := s.Authenticate(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("ann's session %d after the reset: %v, want ErrUnauthenticated", i, err)
		}
	}
	if _, err := s.Authenticate(ctx, bobToken); err != nil {
		t.Errorf("bob's session after ann's reset: %v", err)
	}
	if ss, err := s.ListSessions(context.Background(), ann.ID); err != nil || len(ss) != 0 {
		t.Errorf("ann's sessions after the reset = %d, %v; want none", len(ss), err)
	}
}
