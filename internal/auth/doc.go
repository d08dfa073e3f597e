// Package auth is findash's identity domain: users, their passwords
// (argon2id), API keys, and turning a bearer token into a Principal.
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
package auth
