// Package auth is findash's identity domain: users, their passwords
// (argon2id), login sessions, API keys, short-lived WebSocket tokens, and
// turning a bearer token into a Principal.
//
// Tokens, told apart by prefix: "fd_" API keys and "fds_" session tokens
// (32 random bytes each, stored only as SHA-256, looked up on use), and
// "fdw_" WebSocket tokens (user id, expiry and the session they were made
// from, HMAC-SHA256-signed with Config.WSTokenKey, valid one minute and
// while that session lasts, verified without I/O so a reconnect storm never
// reaches the session store; the gateway closes their connections when the
// session ends: AuthenticateSession, LiveSessions, decision 0083). Sessions last Config.SessionTTL
// (30 days) from login, fixed rather than sliding so that authenticating a
// request never writes; logout deletes the session at once. Sessions live
// behind SessionStore: the SQL store in stage 1, Redis through KVSessions.
//
// It declares the small Store interface it needs and imports no database
// driver; internal/store/sqlite (and later postgres) implement Store.
//
// Secrets. Passwords are hashed through PasswordHasher — argon2id, in
// internal/auth/argon2id — because they are low-entropy and must be slow to
// guess offline. API keys are 32 random bytes,
// so a single SHA-256 is enough to make a stolen table useless and keeps
// per-request authentication cheap; only that hash is stored.
//
// API keys in memory. A KeyCache (keycache.go) in front of the Store
// answers API key lookups, so ingest reads no database per request and
// keeps working through a database outage: fresh for a TTL (30 s), then
// refreshed in the background while the cached key answers, and used
// stale for up to MaxStale (1 h) while the store fails; unknown keys are
// remembered briefly in a cache of their own, so a flood of random keys
// neither reaches the store nor evicts the keys in use. DeleteAPIKey drops
// the key from this instance's cache and announces it (RevocationPublisher,
// the bus), and every instance's cache drops it on receipt; a missed
// announcement is bounded by the TTL.
//
// Concurrency. Service and KeyCache are safe for concurrent use; the hasher
// it is given must be too (argon2id.Hasher also bounds how many hashes run
// at once). KeyCache owns the goroutines of its store reads (Close waits
// for them).
//
// Imports. auth imports the domain (market), the standard library, the
// in-process cache (otter) and the Prometheus client, nothing else.
// It must not import a database driver, Redis, a store or the password
// hashing library (golang.org/x/crypto/argon2, which only argon2id imports):
// it declares Store, SessionStore, SessionKV and PasswordHasher, and
// cmd/findash wires them, so the API and the stores that import auth's
// types do not link the hashing code.
package auth
