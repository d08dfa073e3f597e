package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/findash/findash/internal/market"
)

// Account tokens: "fdt_" + 32 random bytes in unpadded base64url, sent in
// a verification or password-reset mail, stored only as SHA-256, valid
// once and until they expire.
const (
	accountTokenPrefix = "fdt_"
)

// Default lifetimes of account tokens (Config.VerifyTTL, Config.ResetTTL).
const (
	DefaultVerifyTTL = 48 * time.Hour
	DefaultResetTTL  = time.Hour
)

// TokenPurpose says what an account token proves.
type TokenPurpose string

// The two purposes of account tokens.
const (
	PurposeVerify TokenPurpose = "verify" // the owner reads mail at the address
	PurposeReset  TokenPurpose = "reset"  // the same, and may set a new password
)

// ErrBadToken means an account token is malformed, unknown, already used
// or expired. The API answers 400 invalid_token and never says which.
var ErrBadToken = errors.New("the link is invalid or has expired")

// AccountToken is a stored account token.
type AccountToken struct {
	Hash      []byte // SHA-256 of the token
	UserID    int64
	Purpose   TokenPurpose
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AccountStore keeps account tokens and applies what they prove. The SQL
// stores implement it. Times are ms precision, UTC.
type AccountStore interface {
	// PutAccountToken stores t and deletes every other token of t.UserID
	// with t.Purpose, so at most one link of each kind works at a time.
	PutAccountToken(ctx context.Context, t AccountToken) error
	// TakeAccountToken deletes the token of hash with purpose and returns
	// it; none, or one expired at now, is market.ErrNotFound.
	TakeAccountToken(ctx context.Context, hash []byte, purpose TokenPurpose, now time.Time) (AccountToken, error)
	// MarkEmailVerified sets the user's EmailVerifiedAt (if not yet set).
	MarkEmailVerified(ctx context.Context, userID int64, at time.Time) error
	// SetPassword replaces the user's password hash, marks the address
	// verified (if not yet), and deletes all the user's sessions stored in
	// the database and all their reset tokens, in one transaction.
	SetPassword(ctx context.Context, userID int64, hash string, at time.Time) error
}

// SessionLister lists one user's sessions (the SQL session store, and
// Redis through its per-user index: KVSessions over a SessionKVIndex).
type SessionLister interface {
	// ListSessions returns userID's sessions, newest first, expired ones
	// left out (at now).
	ListSessions(ctx context.Context, userID int64, now time.Time) ([]Session, error)
}

// userSessionsDeleter ends every session of a user (KVSessions over a
// SessionKVIndex; the SQL store does it in SetPassword).
type userSessionsDeleter interface {
	DeleteUserSessions(ctx context.Context, userID int64) error
}

// Mailer queues a plain-text e-mail (satisfied by *notify.Outbox). It must
// not block; it reports false when the queue is full and the mail dropped.
type Mailer interface {
	Enqueue(to, subject, body string) bool
}

func newAccountToken() string { return newToken(accountTokenPrefix) }

func wellFormedAccountToken(t string) bool { return wellFormedToken(t, accountTokenPrefix) }

// SessionID is the public identifier of a session: the first 8 bytes of
// its token's SHA-256 in hex. It tells sessions apart in the session list
// and names one to revoke; it cannot be turned back into the token.
func SessionID(s Session) string { return hex.EncodeToString(s.Hash[:min(8, len(s.Hash))]) }

// accounts returns the AccountStore, or an ErrUnavailable error.
func (s *Service) accounts() (AccountStore, error) {
	as, ok := s.store.(AccountStore)
	if !ok {
		return nil, fmt.Errorf("account tokens: the store keeps none: %w", market.ErrUnavailable)
	}
	return as, nil
}

// SignUp creates a user who signed up themselves: unverified, with a
// password (CheckPassword), and mails them a verification link. Errors as
// CreateUser. A mail that cannot be queued is logged, not an error: the
// user can ask for another (ResendVerification).
func (s *Service) SignUp(ctx context.Context, email, password string) (User, error) {
	if err := CheckPassword(password); err != nil {
		return User{}, fmt.Errorf("sign up: %w", err)
	}
	u, err := s.createUser(ctx, email, password, false)
	if err != nil {
		return User{}, err
	}
	if err := s.sendVerification(ctx, u); err != nil {
		s.log.Warn("verification mail not sent", "user_id", u.ID, "err", err)
	}
	return u, nil
}

// sendVerification stores a fresh verify token for u and queues its mail.
func (s *Service) sendVerification(ctx context.Context, u User) error {
	token, err := s.putToken(ctx, u.ID, PurposeVerify, s.verifyTTL)
	if err != nil {
		return err
	}
	link := s.publicURL + "/verify#token=" + token
	body := "Welcome to findash.\n\nConfirm that " + u.Email + " is your address by opening this link:\n\n" + link +
		"\n\nIt works once, for " + s.verifyTTL.String() + ". If you did not sign up, ignore this mail.\n"
	s.mail(u.Email, "Confirm your e-mail address for findash", body)
	return nil
}

// ResendVerification mails a new verification link to email if it belongs
// to an unverified user; otherwise it does nothing. It never says which,
// so it tells nobody whether an address has an account.
func (s *Service) ResendVerification(ctx context.Context, email string) error {
	u, ok, err := s.userForMail(ctx, email)
	if err != nil || !ok || u.EmailVerifiedAt != nil {
		return err
	}
	return s.sendVerification(ctx, u)
}

// VerifyEmail takes a verification token and marks its user's address
// verified. A bad, used or expired token matches ErrBadToken.
func (s *Service) VerifyEmail(ctx context.Context, token string) (User, error) {
	t, err := s.takeToken(ctx, token, PurposeVerify)
	if err != nil {
		return User{}, err
	}
	as, _ := s.accounts()
	if err := as.MarkEmailVerified(ctx, t.UserID, s.now().UTC()); err != nil {
		return User{}, fmt.Errorf("verify e-mail: %w", err)
	}
	return s.User(ctx, t.UserID)
}

// RequestPasswordReset mails a reset link to email if it belongs to a user;
// otherwise it does nothing, and it never says which. The mail is queued,
// not sent in the request, so the answer takes as long either way.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	u, ok, err := s.userForMail(ctx, email)
	if err != nil || !ok {
		return err
	}
	token, err := s.putToken(ctx, u.ID, PurposeReset, s.resetTTL)
	if err != nil {
		return err
	}
	link := s.publicURL + "/reset-password#token=" + token
	body := "Someone asked to reset the password of the findash account " + u.Email + ".\n\nTo choose a new password, open this link:\n\n" +
		link + "\n\nIt works once, for " + s.resetTTL.String() + ". If it was not you, ignore this mail: your password stays as it is.\n"
	s.mail(u.Email, "Reset your findash password", body)
	return nil
}

// ResetPassword takes a reset token and sets password (CheckPassword) as
// the user's new one. It signs the user out everywhere (every session in
// the database; sessions kept in Redis run out by themselves) and marks the
// address verified, since the mail reached it; the user's WebSockets close
// (Config.SessionRevocations). A bad, used or expired
// token matches ErrBadToken, a bad password market.ErrInvalid (the token
// is then still usable).
func (s *Service) ResetPassword(ctx context.Context, token, password string) (User, error) {
	if err := CheckPassword(password); err != nil {
		return User{}, fmt.Errorf("reset password: %w", err)
	}
	if !wellFormedAccountToken(token) {
		return User{}, fmt.Errorf("reset password: %w", ErrBadToken)
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, fmt.Errorf("reset password: %w", err)
	}
	t, err := s.takeToken(ctx, token, PurposeReset)
	if err != nil {
		return User{}, err
	}
	as, _ := s.accounts()
	if err := as.SetPassword(ctx, t.UserID, hash, s.now().UTC()); err != nil {
		return User{}, fmt.Errorf("reset password: %w", err)
	}
	// SetPassword ended the sessions kept in the database; sessions kept
	// elsewhere (Redis) are ended here. If that fails the password is
	// changed but old sessions live on until they expire: say so (503)
	// rather than report a clean reset.
	if d, ok := s.sessions.(userSessionsDeleter); ok {
		if err := d.DeleteUserSessions(ctx, t.UserID); err != nil {
			s.log.Error("password reset: the password is changed but the user's sessions could not be ended", "user_id", t.UserID, "err", err)
			return User{}, fmt.Errorf("reset password: end sessions: %w", err)
		}
	}
	s.sessionsRevoked(ctx, t.UserID)
	return s.User(ctx, t.UserID)
}

// ListSessions returns userID's live sessions, newest first. Without a
// SessionLister it is market.ErrUnavailable.
func (s *Service) ListSessions(ctx context.Context, userID int64) ([]Session, error) {
	sl, ok := s.sessions.(SessionLister)
	if !ok {
		return nil, fmt.Errorf("list sessions: the session store keeps no per-user list: %w", market.ErrUnavailable)
	}
	ss, err := sl.ListSessions(ctx, userID, s.now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return ss, nil
}

// RevokeUserSession ends userID's session whose SessionID is id and
// announces it (Config.SessionRevocations). Another user's session, or
// none, matches market.ErrNotFound.
func (s *Service) RevokeUserSession(ctx context.Context, userID int64, id string) error {
	ss, err := s.ListSessions(ctx, userID)
	if err != nil {
		return err
	}
	for _, sess := range ss {
		if SessionID(sess) == id {
			if err := s.sessions.DeleteSession(ctx, sess.Hash); err != nil {
				return fmt.Errorf("revoke session: %w", err)
			}
			s.sessionsRevoked(ctx, userID)
			return nil
		}
	}
	return fmt.Errorf("revoke session: %w", market.ErrNotFound)
}

// userForMail finds the user of email for a mail; an address that does
// not parse or has no user is ok false with no error.
func (s *Service) userForMail(ctx context.Context, email string) (User, bool, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return User{}, false, nil
	}
	u, err := s.store.UserByEmail(ctx, e)
	if errors.Is(err, market.ErrNotFound) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("user for mail: %w", err)
	}
	return u, true, nil
}

func (s *Service) putToken(ctx context.Context, userID int64, p TokenPurpose, ttl time.Duration) (string, error) {
	as, err := s.accounts()
	if err != nil {
		return "", err
	}
	token := newAccountToken()
	now := s.now().UTC().Truncate(time.Millisecond)
	t := AccountToken{Hash: hashKey(token), UserID: userID, Purpose: p, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := as.PutAccountToken(ctx, t); err != nil {
		return "", fmt.Errorf("store %s token: %w", p, err)
	}
	return token, nil
}

func (s *Service) takeToken(ctx context.Context, token string, p TokenPurpose) (AccountToken, error) {
	if !wellFormedAccountToken(token) {
		return AccountToken{}, fmt.Errorf("%s: %w", p, ErrBadToken)
	}
	as, err := s.accounts()
	if err != nil {
		return AccountToken{}, err
	}
	t, err := as.TakeAccountToken(ctx, hashKey(token), p, s.now())
	if errors.Is(err, market.ErrNotFound) {
		return AccountToken{}, fmt.Errorf("%s: %w", p, ErrBadToken)
	}
	if err != nil {
		return AccountToken{}, fmt.Errorf("%s: %w", p, err)
	}
	return t, nil
}

// mail queues a mail, logging (without its body: it holds a token) when
// there is no mailer or its queue is full.
func (s *Service) mail(to, subject, body string) {
	if s.mailer == nil {
		s.log.Warn("no mailer configured; account mail not sent", "subject", subject)
		return
	}
	if !s.mailer.Enqueue(to, subject, body) {
		s.log.Warn("mail queue full; account mail dropped", "subject", subject)
	}
}

// SessionIDOf is the SessionID of the session of token ("" when token is
// not shaped like a session token).
func SessionIDOf(token string) string {
	if !IsSessionToken(token) {
		return ""
	}
	return SessionID(Session{Hash: hashKey(token)})
}
