package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// WebSocket token format: "fdw_" + unpadded base64url of
// userID (8 bytes, big endian) | expiry (8 bytes, Unix ms, big endian) |
// HMAC-SHA256 of the first 16 bytes under the WS token key (32 bytes).
// 48 bytes, 64 characters of base64url.
const (
	wsPrefix     = "fdw_"
	wsPayloadLen = 16
	wsRawLen     = wsPayloadLen + sha256.Size
	wsEncodedLen = len(wsPrefix) + 64
	// wsDomain separates these MACs from any other use of the key.
	wsDomain = "findash-ws-token-v1\x00"
)

// DefaultWSTokenTTL is how long a WebSocket token is valid when
// Config.WSTokenTTL is zero.
const DefaultWSTokenTTL = time.Minute

// WSToken returns a short-lived token for opening WebSocket connections as
// userID (GET /ws?token=…), valid until expiresAt (Config.WSTokenTTL from
// now). It is signed, not stored: AuthenticateToken verifies it without any
// I/O, so a reconnect storm does not reach the session store. It names no
// session: when a session of the user ends, every instance told of it
// (SessionsEnded) refuses the user's WS tokens issued until then, since
// any of them may have been made from that session. Every instance must
// share Config.WSTokenKey and Config.WSTokenTTL.
func (s *Service) WSToken(userID int64) (token string, expiresAt time.Time) {
	expiresAt = s.now().UTC().Add(s.wsTTL).Truncate(time.Millisecond)
	raw := make([]byte, wsPayloadLen, wsRawLen)
	binary.BigEndian.PutUint64(raw[0:8], uint64(userID))
	binary.BigEndian.PutUint64(raw[8:16], uint64(expiresAt.UnixMilli()))
	raw = append(raw, s.wsMAC(raw)...)
	return wsPrefix + base64.RawURLEncoding.EncodeToString(raw), expiresAt
}

func (s *Service) wsMAC(payload []byte) []byte {
	m := hmac.New(sha256.New, s.wsKey)
	m.Write([]byte(wsDomain))
	m.Write(payload)
	return m.Sum(nil)
}

// verifyWSToken checks a WebSocket token's MAC and expiry.
func (s *Service) verifyWSToken(token string) (int64, error) {
	if len(token) != wsEncodedLen {
		return 0, fmt.Errorf("ws token: %w", ErrUnauthenticated)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[len(wsPrefix):])
	if err != nil || len(raw) != wsRawLen {
		return 0, fmt.Errorf("ws token: %w", ErrUnauthenticated)
	}
	if !hmac.Equal(raw[wsPayloadLen:], s.wsMAC(raw[:wsPayloadLen])) {
		return 0, fmt.Errorf("ws token: bad signature: %w", ErrUnauthenticated)
	}
	uid := int64(binary.BigEndian.Uint64(raw[0:8]))
	exp := int64(binary.BigEndian.Uint64(raw[8:16]))
	if uid <= 0 || s.now().UnixMilli() >= exp {
		return 0, fmt.Errorf("ws token: expired: %w", ErrUnauthenticated)
	}
	s.endedMu.Lock()
	ended, ok := s.ended[uid]
	s.endedMu.Unlock()
	if ok && exp-s.wsTTL.Milliseconds() <= ended.UnixMilli() {
		return 0, fmt.Errorf("ws token: issued before a session of the user ended: %w", ErrUnauthenticated)
	}
	return uid, nil
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
	token = strings.TrimSpace(token)
	if strings.HasPrefix(token, wsPrefix) {
		return s.verifyWSToken(token)
	}
	if !IsSessionToken(token) { // an API key, or junk: refused without a lookup
		return 0, fmt.Errorf("ws token: not a websocket token or session: %w", ErrUnauthenticated)
	}
	p, err := s.authenticateSession(ctx, token)
	if err != nil {
		return 0, err
	}
	return p.UserID, nil
}
