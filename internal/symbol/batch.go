package symbol

// Registering the new symbols of concurrent Admits with one store call.

import (
	"context"
	"time"
)

// registerTimeout bounds a shared registration's store call. The call
// serves every member of its batch, so it runs under none of their
// contexts (one client leaving would fail them all, and each would then
// retry alone: the transaction per request the batch removes); a member
// whose context ends stops waiting for it, nothing more.
const registerTimeout = 10 * time.Second

// regBatch is the new symbols of the Admits (and Registers) that arrived
// while another registration was in the store: they go to the store
// together, in one call and one transaction, when that one is done. A
// burst of ticks of new symbols — a feed's or a benchmark's first second,
// 32 requests at a time, each with one symbol not registered yet — thus
// costs a few transactions instead of one per request (244 for 100 symbols
// measured, each waiting for the database's single writer on the request
// path: the first ticks waited up to a second, docs/benchmarks/ws.md).
type regBatch struct {
	syms  []Symbol
	names map[string]struct{}
	// n counts the registrations in the batch. Guarded by Registry.regMu
	// until the batch is taken for the store; read-only after.
	n    int
	done chan struct{} // closed once err is set
	err  error
}

// registerShared registers syms (new to this instance) in one store call
// with the new symbols of concurrent registrations, one such call at a
// time, bounded by registerTimeout and not by ctx: ctx ends only this
// registration's wait for its turn or for another's call. It returns the
// call's error and whether the call held other registrations' symbols too
// (shared): the store takes a batch all or none, so a shared batch refused
// at the cap says nothing of syms alone.
func (r *Registry) registerShared(ctx context.Context, syms []Symbol) (shared bool, err error) {
	r.regMu.Lock()
	b := r.gathering
	if b == nil {
		b = &regBatch{names: make(map[string]struct{}, len(syms)), done: make(chan struct{})}
		r.gathering = b
	}
	for _, s := range syms {
		if _, ok := b.names[s.Name]; !ok {
			b.names[s.Name] = struct{}{}
			b.syms = append(b.syms, s)
		}
	}
	b.n++
	r.regMu.Unlock()

	select {
	case <-b.done: // another registration of the batch took it to the store
		return b.n > 1, b.err
	case <-ctx.Done():
		return false, ctx.Err()
	case r.turn <- struct{}{}:
	}
	defer func() { <-r.turn }()
	select {
	case <-b.done:
		return b.n > 1, b.err
	default:
	}
	// The batch stops gathering: what comes from now on waits for the
	// next turn, in the next batch.
	r.regMu.Lock()
	if r.gathering == b {
		r.gathering = nil
	}
	r.regMu.Unlock()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), registerTimeout)
	_, b.err = r.store.RegisterSymbols(sctx, b.syms, r.cfg.Max)
	cancel()
	if b.err == nil {
		r.learn(b.syms)
	}
	close(b.done)
	return b.n > 1, b.err
}

// learn adds syms to the in-memory set.
func (r *Registry) learn(syms []Symbol) {
	r.mu.Lock()
	for _, s := range syms {
		r.known[s.Name] = struct{}{}
	}
	size := len(r.known)
	r.mu.Unlock()
	r.registered.Set(float64(size))
}
