package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/findash/findash/internal/market"
)

// WebSocket token format: "fdw_" + unpadded base64url of
// userID (8 bytes, big endian) | expiry (8 bytes, Unix ms, big endian) |
// the session's expiry (8 bytes, Unix ms; 0: not known) | the session's
// key (32 bytes: its token's SHA-256; zeros: none) | HMAC-SHA256 of the
// first 56 bytes under the WS token key (32 bytes). 88 bytes, 118
// characters of base64url. Version 1 (decision 0082 and before) named no
// session: 48 bytes, 64 characters, refused since decision 0083.
const (
	wsPrefix     = "fdw_"
	wsPayloadLen = 24 + sha256.Size
	wsRawLen     = wsPayloadLen + sha256.Size
	wsEncodedLen = len(wsPrefix) + (wsRawLen*8+5)/6
	// wsDomain separates these MACs from any other use of the key (and
	// from version 1's).
	wsDomain = "findash-ws-token-v2\x00"
)

// DefaultWSTokenTTL is how long a WebSocket token is valid when
// Config.WSTokenTTL is zero.
const DefaultWSTokenTTL = time.Minute

// WSToken returns a short-lived token for opening WebSocket connections as
// p.UserID (GET /ws?token=…), valid until expiresAt (Config.WSTokenTTL from
// now) and while p's session lasts. It is signed, not stored:
// AuthenticateToken verifies it without any I/O, so a reconnect storm does
// not reach the session store. It names p's session (p.Session,
// p.SessionExpires), so that a gateway closes the connection it opened when
// that session expires or ends (AuthenticateSession, LiveSessions); when a
// session of the user ends, every instance told of it (SessionsEnded) also
// refuses the user's WS tokens issued until then. Every instance must
// share Config.WSTokenKey and Config.WSTokenTTL.
func (s *Service) WSToken(p Principal) (token string, expiresAt time.Time) {
	expiresAt = s.now().UTC().Add(s.wsTTL).Truncate(time.Millisecond)
	raw := make([]byte, wsPayloadLen, wsRawLen)
	binary.BigEndian.PutUint64(raw[0:8], uint64(p.UserID))
	binary.BigEndian.PutUint64(raw[8:16], uint64(expiresAt.UnixMilli()))
	if !p.SessionExpires.IsZero() {
		binary.BigEndian.PutUint64(raw[16:24], uint64(max(p.SessionExpires.UnixMilli(), 1)))
	}
	if len(p.Session) == sha256.Size {
		copy(raw[24:], p.Session)
	}
	raw = append(raw, s.wsMAC(raw)...)
	return wsPrefix + base64.RawURLEncoding.EncodeToString(raw), expiresAt
}

func (s *Service) wsMAC(payload []byte) []byte {
	m := hmac.New(sha256.New, s.wsKey)
	m.Write([]byte(wsDomain))
	m.Write(payload)
	return m.Sum(nil)
}

// verifyWSToken checks a WebSocket token's MAC and expiry, and its
// session's, and returns its user and session (a Principal with no
// SessionExpires when the token does not know it).
func (s *Service) verifyWSToken(token string) (Principal, error) {
	if len(token) != wsEncodedLen {
		return Principal{}, fmt.Errorf("ws token: %w", ErrUnauthenticated)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token[len(wsPrefix):])
	if err != nil || len(raw) != wsRawLen {
		return Principal{}, fmt.Errorf("ws token: %w", ErrUnauthenticated)
	}
	if !hmac.Equal(raw[wsPayloadLen:], s.wsMAC(raw[:wsPayloadLen])) {
		return Principal{}, fmt.Errorf("ws token: bad signature: %w", ErrUnauthenticated)
	}
	uid := int64(binary.BigEndian.Uint64(raw[0:8]))
	exp := int64(binary.BigEndian.Uint64(raw[8:16]))
	sessExp := int64(binary.BigEndian.Uint64(raw[16:24]))
	now := s.now().UnixMilli()
	if uid <= 0 || now >= exp {
		return Principal{}, fmt.Errorf("ws token: expired: %w", ErrUnauthenticated)
	}
	if sessExp != 0 && now >= sessExp {
		return Principal{}, fmt.Errorf("ws token: its session expired: %w", ErrUnauthenticated)
	}
	s.endedMu.Lock()
	ended, ok := s.ended[uid]
	s.endedMu.Unlock()
	if ok && exp-s.wsTTL.Milliseconds() <= ended.UnixMilli() {
		return Principal{}, fmt.Errorf("ws token: issued before a session of the user ended: %w", ErrUnauthenticated)
	}
	p := Principal{UserID: uid}
	if sess := raw[24:wsPayloadLen]; !bytes.Equal(sess, make([]byte, sha256.Size)) {
		p.Session = string(sess)
	}
	if sessExp != 0 {
		p.SessionExpires = time.UnixMilli(sessExp).UTC()
	}
	return p, nil
}

// SessionsEnded records that a session of userID ended now (on this
// instance or, told over the bus, another): the user's WS tokens issued
// until now are refused from now on. Without it, a WebSocket closed
// because its session ended (gateway.Hub.CloseUser) was reopened at once
// with a WS token made from that session, valid for up to WSTokenTTL, and
// stayed open. A record is kept for WSTokenTTL, past which every token it
// refuses has expired anyway.
func (s *Service) SessionsEnded(userID int64) {
	now := s.now()
	s.endedMu.Lock()
	defer s.endedMu.Unlock()
	if now.Sub(s.endedSwept) > s.wsTTL { // so at most two TTLs of records are held
		for id, t := range s.ended {
			if now.Sub(t) > s.wsTTL {
				delete(s.ended, id)
			}
		}
		s.endedSwept = now
	}
	s.ended[userID] = now
}

// AuthenticateToken resolves a WebSocket credential — a WS token (verified
// without I/O) or a session token — to a user id. It satisfies
// gateway.Authenticator. An API key is refused like a bad token: the
// connection it opens may read the user's alerts channel, and an API key
// is an ingest credential, often held by a program on another machine, so
// a leaked one must not read its owner's alerts. Failures match
// ErrUnauthenticated, except a session store failure, returned as such.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (int64, error) {
	p, err := s.authenticateWS(ctx, token)
	return p.UserID, err
}

// AuthenticateSession is AuthenticateToken that also returns the session
// the credential is or was made from — its key ("" for a WS token made
// without one) and expiry (zero when not known: a session kept in Redis)
// — so that the gateway can close the connection when the session ends
// (LiveSessions). With LiveSessions it satisfies
// gateway.SessionAuthenticator.
func (s *Service) AuthenticateSession(ctx context.Context, token string) (userID int64, session string, expires time.Time, err error) {
	p, err := s.authenticateWS(ctx, token)
	if err != nil {
		return 0, "", time.Time{}, err
	}
	return p.UserID, p.Session, p.SessionExpires, nil
}

func (s *Service) authenticateWS(ctx context.Context, token string) (Principal, error) {
	token = strings.TrimSpace(token)
	if strings.HasPrefix(token, wsPrefix) {
		return s.verifyWSToken(token)
	}
	if !IsSessionToken(token) { // an API key, or junk: refused without a lookup
		return Principal{}, fmt.Errorf("ws token: not a websocket token or session: %w", ErrUnauthenticated)
	}
	return s.authenticateSession(ctx, token)
}

// LiveSessions reports, for each session key (Principal.Session), whether
// the session store still holds it unexpired. The gateway asks it
// periodically about the sessions behind its connections, so that an
// instance that missed a revocation's announcement closes them all the
// same. Each is looked up by key in turn (one indexed read: the caller
// bounds how many it asks about at once). A malformed key is not live. A
// store failure is returned: the caller cannot tell.
func (s *Service) LiveSessions(ctx context.Context, sessions []string) ([]bool, error) {
	live := make([]bool, len(sessions))
	if s.sessions == nil {
		return live, nil
	}
	now := s.now()
	for i, k := range sessions {
		if len(k) != sha256.Size {
			continue
		}
		sess, err := s.sessions.SessionByHash(ctx, []byte(k))
		if errors.Is(err, market.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("check session: %w", err)
		}
		// A zero ExpiresAt: the store expires sessions itself (Redis).
		live[i] = sess.ExpiresAt.IsZero() || now.Before(sess.ExpiresAt)
	}
	return live, nil
}
