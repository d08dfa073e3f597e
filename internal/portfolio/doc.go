// Package portfolio is findash's portfolio domain: a user's holdings
// (symbol, quantity, average cost per unit), kept by a Store, and their
// value and profit or loss at the live quotes (Value).
//
// Rules: at most MaxHoldings holdings per user, one per symbol; quantity
// in (0, MaxQuantity], cost basis in [0, MaxPrice]. Every operation is
// scoped to the owner: another user's holding is market.ErrNotFound, never
// "forbidden", so ids cannot be probed. Value is computed on every read
// from the quotes of the moment, never stored.
//
// Concurrency. Service is safe for concurrent use; the per-user cap is
// enforced by the Store atomically with the insert.
//
// Imports. portfolio imports only the domain (market) and the standard
// library. It must not import a store or a driver.
package portfolio
