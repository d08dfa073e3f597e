// Package store holds what findash's two store adapters (store/sqlite and
// store/postgres) share that is not the domain's vocabulary: the planning of
// `findash migrate --down-to`. The adapters must not import each other, so
// logic they would otherwise both write lives here. It imports only the
// standard library and internal/market; it must not import a driver or an
// adapter.
package store

import (
	"slices"

	"github.com/findash/findash/internal/market"
)

// DownSteps returns the versions a store's MigrateDown undoes to take a
// database at version current down to version to, newest first, given the
// versions of the store's embedded migrations (ascending): none when to is
// current. It refuses with market.ErrInvalid, undoing nothing, a target
// below 0 or above current, a database newer than every known migration (a
// newer findash migrated it), and a target other than 0 that is no
// migration of the store.
func DownSteps(current, to int64, known []int64) ([]int64, error) {
	switch {
	case to < 0:
		return nil, market.Invalid("version", "%d is below 0", to)
	case to > current:
		return nil, market.Invalid("version", "%d is above the database's version %d (findash migrate without --down-to applies migrations up)", to, current)
	case len(known) > 0 && current > known[len(known)-1]:
		return nil, market.Invalid("version", "the database is at version %d, newer than this findash's migrations (up to %d): migrate it down with the findash release that applied it", current, known[len(known)-1])
	case to != 0 && !slices.Contains(known, to):
		return nil, market.Invalid("version", "%d is not a migration of this store (its versions: %v)", to, known)
	}
	var undo []int64
	for _, v := range slices.Backward(known) {
		if v > to && v <= current {
			undo = append(undo, v)
		}
	}
	return undo, nil
}
