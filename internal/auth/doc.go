// Package auth is findash's identity domain: users, their passwords
// (argon2id), login sessions, API keys, short-lived WebSocket tokens, and
// turning a bearer token into a Principal.
//
// Tokens, told apart by prefix: "fd_" API keys and "fds_" session tokens
// (32 random bytes each, stored only as SHA-256, looked up on use), and
// "fdw_" WebSocket tokens (user id + expiry, HMAC-SHA256-signed with
// Config.WSTokenKey, valid one minute, verified without I/O so a reconnect
// storm never reaches the session store). Sessions last Config.SessionTTL
// (30 days) from login, fixed rather than sliding so that authenticating a
// request never writes; logout deletes the session at once. Sessions live
// behind SessionStore: the SQL store in stage 1, Redis through KVSessions.
//
// It declares the small Store interface it needs and imports no database
// driver; internal/store/sqlite (and later postgres) implement Store.
//
// Secrets. Passwords are hashed with argon2id (see Params) because they are
// low-entropy and must be slow to guess offline. API keys are 32 random bytes,
// so a single SHA-256 is enough to make a stolen table useless and keeps
// per-request authentication cheap; only that hash is stored.
//
// Concurrency. Hasher and Service are safe for concurrent use. Hasher bounds
// how many argon2id computations run at once (each holds Params.Memory KiB),
// so a burst of logins waits instead of exhausting memory.
//
// Imports. auth imports only the domain (market) and the standard library
// besides its password hashing. It must not import a database driver, Redis
// or a store: it declares Store, SessionStore and SessionKV, and cmd/findash
// wires them.
package auth
