// Package watchlist is findash's watchlist domain: a user's named lists of
// symbols, and the Service that validates and stores them.
//
// Rules: a name of 1–64 characters (trimmed), at most MaxSymbols symbols per
// list (each a market.ValidSymbol; duplicates are dropped, first occurrence
// kept, order preserved), at most MaxLists lists per user. Every operation
// is scoped to the owner: another user's list is market.ErrNotFound, never
// "forbidden", so list ids cannot be probed.
//
// It declares the small Store it needs and imports no database driver;
// internal/store/sqlite (and later postgres) implement it.
//
// Concurrency. Service is safe for concurrent use; the per-user list cap is
// enforced by the Store atomically with the insert.
//
// Imports. watchlist imports only the domain (market) and the standard
// library. It must not import a store or a driver.
package watchlist
