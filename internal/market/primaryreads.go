package market

import "context"

// primaryReadsKey marks a context whose store reads must see the primary's
// latest commits.
type primaryReadsKey struct{}

// WithPrimaryReads returns ctx marked so that a store with read replicas
// serves its reads from the primary: for a reader that has just waited for
// a position on the primary (a report, decision 0057) and must not then
// read an older state from a replica still replaying it.
func WithPrimaryReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryReadsKey{}, true)
}

// PrimaryReads reports whether ctx was marked by WithPrimaryReads.
func PrimaryReads(ctx context.Context) bool {
	v, _ := ctx.Value(primaryReadsKey{}).(bool)
	return v
}
