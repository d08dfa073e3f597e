package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/findash/findash/internal/market"
)

// Session token format: "fds_" + 32 random bytes in unpadded base64url (43
// characters), 47 characters in all — told apart from API keys ("fd_") by
// its prefix, so Authenticate knows which store to ask.
const (
	sessionPrefix = "fds_"
)

// DefaultSessionTTL is how long a session lasts from login when
// Config.SessionTTL is zero.
const DefaultSessionTTL = 30 * 24 * time.Hour

// Session is a login: a browser's cookie or a program's bearer token. The
// token itself is never stored; Hash is its SHA-256 (like an API key's, a
// fast hash suffices for 256 random bits).
//
// Expiry is fixed, not sliding: a session ends ExpiresAt (login + the TTL)
// however much it is used, so authenticating a request never writes.
type Session struct {
	Hash      []byte // SHA-256 of the token
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionStore keeps sessions: the database in stage 1 (internal/store/sqlite),
// Redis when configured. Implementations translate their errors: an unknown
// hash is market.ErrNotFound, an unknown user on create market.ErrNotFound.
// Times come back as stored (ms precision, UTC).
type SessionStore interface {
	// CreateSession stores s. A store with expiry of its own (Redis) should
	// drop it at s.ExpiresAt; the database keeps it until DeleteSession or a
	// sweep, and Service refuses it once expired anyway.
	CreateSession(ctx context.Context, s Session) error
	// SessionByHash finds a session by the SHA-256 of its token. A zero
	// ExpiresAt means the store enforces expiry itself.
	SessionByHash(ctx context.Context, hash []byte) (Session, error)
	// DeleteSession deletes the session; deleting one that does not exist
	// is not an error (logout is idempotent).
	DeleteSession(ctx context.Context, hash []byte) error
}

func newSessionToken() string { return newToken(sessionPrefix) }

// IsSessionToken reports whether token is shaped like a session token
// (it says nothing about whether the session exists).
func IsSessionToken(token string) bool { return wellFormedToken(token, sessionPrefix) }

// CreateSession starts a session for userID (normally right after Login)
// and returns its token — to be given to the client once and never stored
// — with the stored session. It lasts Config.SessionTTL. An unknown user
// matches market.ErrNotFound; without a SessionStore it is
// market.ErrUnavailable.
func (s *Service) CreateSession(ctx context.Context, userID int64) (token string, sess Session, err error) {
	if s.sessions == nil {
		return "", Session{}, fmt.Errorf("create session: no session store: %w", market.ErrUnavailable)
	}
	token = newSessionToken()
	now := s.now().UTC().Truncate(time.Millisecond)
	sess = Session{Hash: hashKey(token), UserID: userID, CreatedAt: now, ExpiresAt: now.Add(s.sessionTTL)}
	if err := s.sessions.CreateSession(ctx, sess); err != nil {
		return "", Session{}, fmt.Errorf("create session for user %d: %w", userID, err)
	}
	return token, sess, nil
}

// RevokeSession ends the session of token at once (logout) and announces
// it (Config.SessionRevocations), so that the WebSockets of its user
// close. A malformed token, or one of a session that no longer exists, is
// not an error.
func (s *Service) RevokeSession(ctx context.Context, token string) error {
	_, err := s.EndSession(ctx, token)
	return err
}

// StoresSessions reports whether s has a SessionStore: without one, no
// session token is ever read (EndSession finds none without a lookup).
func (s *Service) StoresSessions() bool { return s.sessions != nil }

// EndSession is RevokeSession that also reports whether token was a
// session the store held: false for a malformed token (no lookup) or an
// unknown one (a lookup that found nothing), which the API counts as a
// failed credential (decision 0084).
func (s *Service) EndSession(ctx context.Context, token string) (found bool, err error) {
	if !IsSessionToken(token) || s.sessions == nil {
		return false, nil
	}
	h := hashKey(token)
	sess, err := s.sessions.SessionByHash(ctx, h) // whose, to announce it
	if errors.Is(err, market.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	if err := s.sessions.DeleteSession(ctx, h); err != nil {
		return true, fmt.Errorf("revoke session: %w", err)
	}
	s.sessionsRevoked(ctx, sess.UserID)
	return true, nil
}

// authenticateSession resolves a well-formed session token.
func (s *Service) authenticateSession(ctx context.Context, token string) (Principal, error) {
	if s.sessions == nil {
		return Principal{}, fmt.Errorf("authenticate: %w", ErrUnauthenticated)
	}
	h := hashKey(token)
	sess, err := s.sessions.SessionByHash(ctx, h)
	if errors.Is(err, market.ErrNotFound) {
		return Principal{}, fmt.Errorf("authenticate: %w", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate session: %w", err)
	}
	// A zero ExpiresAt: the store expires sessions itself (KVSessions).
	if !sess.ExpiresAt.IsZero() && !s.now().Before(sess.ExpiresAt) {
		// Best effort: the sweep removes it otherwise.
		if err := s.sessions.DeleteSession(ctx, h); err != nil {
			s.log.Warn("delete expired session", "user_id", sess.UserID, "err", err)
		}
		return Principal{}, fmt.Errorf("authenticate: session expired: %w", ErrUnauthenticated)
	}
	return Principal{UserID: sess.UserID, Session: string(h), SessionExpires: sess.ExpiresAt}, nil
}

// SessionKV is a key-value session store that expires entries itself
// (satisfied by *redis.Client). Session returns market.ErrNotFound for an
// absent (or expired) id.
type SessionKV interface {
	SetSession(ctx context.Context, id string, userID int64, ttl time.Duration) error
	Session(ctx context.Context, id string) (int64, error)
	DeleteSession(ctx context.Context, id string) error
}

// KVSession is one live session in a SessionKVIndex: its id (the hex
// SHA-256 of the token) and times.
type KVSession struct {
	ID                   string
	CreatedAt, ExpiresAt time.Time
}

// SessionKVIndex is a SessionKV that also indexes sessions per user
// (*redis.Client does), so that KVSessions can list a user's sessions and
// end them all at a password reset.
type SessionKVIndex interface {
	SessionKV
	UserSessions(ctx context.Context, userID int64) ([]KVSession, error)
	DeleteUserSessions(ctx context.Context, userID int64) error
}

// KVSessions adapts kv to a SessionStore, keyed by the hex SHA-256 of the
// token (the token itself never reaches the store). Sessions read back
// have a zero ExpiresAt: kv enforces the expiry. now is the clock (nil:
// time.Now) used to turn ExpiresAt into a TTL.
func KVSessions(kv SessionKV, now func() time.Time) SessionStore {
	if now == nil {
		now = time.Now
	}
	k := kvSessions{kv: kv, now: now}
	if ix, ok := kv.(SessionKVIndex); ok {
		return indexedKVSessions{kvSessions: k, ix: ix}
	}
	return k
}

// indexedKVSessions is kvSessions over a SessionKVIndex: also a
// SessionLister and a userSessionsDeleter.
type indexedKVSessions struct {
	kvSessions
	ix SessionKVIndex
}

func (k indexedKVSessions) ListSessions(ctx context.Context, userID int64, now time.Time) ([]Session, error) {
	es, err := k.ix.UserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(es))
	for _, e := range es {
		h, err := hex.DecodeString(e.ID)
		if err != nil || !now.Before(e.ExpiresAt) {
			continue // not a session this adapter made, or just expired
		}
		out = append(out, Session{Hash: h, UserID: userID, CreatedAt: e.CreatedAt, ExpiresAt: e.ExpiresAt})
	}
	slices.SortFunc(out, func(a, b Session) int { return b.CreatedAt.Compare(a.CreatedAt) }) // newest first
	return out, nil
}

func (k indexedKVSessions) DeleteUserSessions(ctx context.Context, userID int64) error {
	return k.ix.DeleteUserSessions(ctx, userID)
}

type kvSessions struct {
	kv  SessionKV
	now func() time.Time
}

func (k kvSessions) CreateSession(ctx context.Context, s Session) error {
	ttl := s.ExpiresAt.Sub(k.now())
	if ttl <= 0 {
		return fmt.Errorf("create session: %w", market.Invalid("expires_at", "already past"))
	}
	return k.kv.SetSession(ctx, hex.EncodeToString(s.Hash), s.UserID, ttl)
}

func (k kvSessions) SessionByHash(ctx context.Context, hash []byte) (Session, error) {
	uid, err := k.kv.Session(ctx, hex.EncodeToString(hash))
	if err != nil {
		return Session{}, err
	}
	return Session{Hash: hash, UserID: uid}, nil
}

func (k kvSessions) DeleteSession(ctx context.Context, hash []byte) error {
	return k.kv.DeleteSession(ctx, hex.EncodeToString(hash))
}
