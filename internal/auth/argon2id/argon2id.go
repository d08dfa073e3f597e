// Package argon2id hashes and verifies passwords with argon2id
// (golang.org/x/crypto/argon2), in PHC string format, with a bound on how
// many hashes run at once. It is the one place findash reaches the
// argon2 library: auth declares the PasswordHasher it needs, and
// cmd/findash hands it a *Hasher, so the API and the stores never link the
// hashing code.
//
// Why argon2id: passwords are low-entropy and must be slow to guess
// offline; DefaultParams follow OWASP. Verify accepts any parameters within
// bounds, so hashes made with older parameters keep working.
//
// Concurrency. A Hasher is safe for concurrent use. At most the
// maxConcurrent given to New hashes run at once (each holds Params.Memory
// KiB); further callers wait, or give up when their ctx ends, so a burst of
// logins waits instead of exhausting memory.
//
// It imports only the standard library and golang.org/x/crypto/argon2, and
// must not import auth or any other findash package: it satisfies
// auth.PasswordHasher by shape.
package argon2id

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams follow OWASP's password storage recommendation for argon2id
// (m=19 MiB, t=2, p=1): ~20–40 ms per hash on one core here, and a bounded
// 19 MiB per hash in flight.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on parameters read back from a stored hash, so a corrupted row
// cannot make one verification allocate gigabytes or run for minutes.
const (
	maxMemoryKiB = 256 * 1024
	maxTime      = 16
	maxKeyLen    = 128
)

var errMalformedHash = errors.New("malformed argon2id hash")

// Hasher hashes and verifies passwords with argon2id. At most maxConcurrent
// hashes run at once; callers beyond that wait (or give up when their ctx
// ends), so memory stays below maxConcurrent × Params.Memory KiB.
// Safe for concurrent use.
type Hasher struct {
	p   Params
	sem chan struct{} // a token per running hash
}

// New returns a Hasher producing hashes with p, running at most
// maxConcurrent (at least 1) at a time.
func New(p Params, maxConcurrent int) *Hasher {
	return &Hasher{p: p, sem: make(chan struct{}, max(1, maxConcurrent))}
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for password hasher: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns password's argon2id hash in PHC string format:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<key> (unpadded standard base64).
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Time, h.p.Memory, h.p.Threads, h.p.KeyLen)
	h.release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.p.Memory, h.p.Time, h.p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC-format hash encoded,
// whatever parameters it was made with; the comparison is constant-time. A
// malformed hash is an error.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	p, salt, key, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	other := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	h.release()
	return subtle.ConstantTimeCompare(key, other) == 1, nil
}

func parsePHC(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errMalformedHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: version %q", errMalformedHash, parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", errMalformedHash, parts[3])
	}
	if p.Memory == 0 || p.Memory > maxMemoryKiB || p.Time == 0 || p.Time > maxTime || p.Threads == 0 {
		return p, nil, nil, fmt.Errorf("%w: parameters %q out of bounds", errMalformedHash, parts[3])
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) == 0 {
		return p, nil, nil, fmt.Errorf("%w: salt", errMalformedHash)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: key", errMalformedHash)
	}
	return p, salt, key, nil
}
