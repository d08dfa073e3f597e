package symbol_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/symbol"
)

// memberKey carries an Admit's index in its context, for the store to tell
// whose context a shared call was given.
type memberKey struct{}

// leaderStore is a real SQLite store whose first RegisterSymbols call
// waits for first, and later ones for rest or their context's end (a
// store call cancelled mid-way); each call sends its context's member
// index (-1: none) on entered first. With fail set, the calls after the
// first fail (a busy database).
type leaderStore struct {
	*countingStore
	calls       atomic.Int64
	entered     chan int
	first, rest chan struct{}
	fail        error
}

func (s *leaderStore) RegisterSymbols(ctx context.Context, syms []symbol.Symbol, max int) (int, error) {
	idx, ok := ctx.Value(memberKey{}).(int)
	if !ok {
		idx = -1
	}
	s.entered <- idx
	if s.calls.Add(1) == 1 {
		<-s.first
		return s.countingStore.RegisterSymbols(ctx, syms, max)
	}
	select {
	case <-s.rest:
	case <-ctx.Done():
		s.registers.Add(1)
		return 0, ctx.Err()
	}
	if s.fail != nil {
		s.registers.Add(1)
		return 0, s.fail
	}
	return s.countingStore.RegisterSymbols(ctx, syms, max)
}

// burstBehindOne admits FIRST alone and, once it is in the store, n more
// Admits each with its own context; when the batch of the n reaches the
// store, it cancels the context of the Admit whose context the call got
// (the leader's) if cancelLeader, then lets the store go on. It returns
// the n Admits' errors, the leader's index and the store calls made.
func burstBehindOne(t *testing.T, n int, cancelLeader bool, fail error) ([]error, int, int64) {
	t.Helper()
	st := &leaderStore{countingStore: openStore(t), entered: make(chan int, 2*n+2),
		first: make(chan struct{}), rest: make(chan struct{}), fail: fail}
	r := symbol.New(st, symbol.Config{Max: 100}, nil, nil)
	var wg sync.WaitGroup
	var firstErr error
	wg.Go(func() { firstErr = r.Admit(t.Context(), symbol.Writer{APIKeyID: 1}, []string{"FIRST"}) })
	<-st.entered
	errs := make([]error, n)
	cancels := make([]context.CancelFunc, n)
	var started sync.WaitGroup
	for i, s := range names("L", n) {
		ctx, cancel := context.WithCancel(context.WithValue(t.Context(), memberKey{}, i))
		cancels[i] = cancel
		started.Add(1)
		wg.Go(func() {
			started.Done()
			errs[i] = r.Admit(ctx, symbol.Writer{APIKeyID: int64(2 + i)}, []string{s})
		})
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	started.Wait()
	// Let the Admits join the batch (real time: nothing here reads a
	// clock; a straggler only makes one more store call).
	time.Sleep(100 * time.Millisecond)
	close(st.first)
	leader := <-st.entered
	if leader < 0 {
		t.Fatal("the shared call's context is no Admit's")
	}
	if cancelLeader {
		cancels[leader]()
	}
	close(st.rest)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("first Admit = %v", firstErr)
	}
	return errs, leader, st.registers.Load()
}

// TestAdmitBatchOutlivesItsLeader: the request whose turn takes a batch to
// the store does so for all its members, so its client leaving mid-call
// fails none of them — each of the others is admitted by that one call.
// The call ran under the leader's context: every member failed with
// context.Canceled and retried alone (21 store calls for 20 Admits).
func TestAdmitBatchOutlivesItsLeader(t *testing.T) {
	errs, leader, calls := burstBehindOne(t, 20, true, nil)
	for i, err := range errs {
		if err != nil && i != leader {
			t.Errorf("Admit %d = %v (the leader was %d)", i, err, leader)
		}
	}
	if calls > 3 { // FIRST's, the batch's (and a straggler's)
		t.Errorf("%d store calls; want 2 (3 with a straggler)", calls)
	}
}

// TestAdmitBatchFailureNotRetriedAlone: a shared call that fails for
// another reason than the cap (a busy database) fails its members, who do
// not each retry alone — that was a transaction per request on the writer
// that just failed.
func TestAdmitBatchFailureNotRetriedAlone(t *testing.T) {
	busy := errors.New("database is locked")
	errs, _, calls := burstBehindOne(t, 20, false, busy)
	for i, err := range errs {
		if !errors.Is(err, busy) {
			t.Errorf("Admit %d = %v, want %v", i, err, busy)
		}
	}
	if calls > 3 {
		t.Errorf("%d store calls; want 2 (3 with a straggler)", calls)
	}
}
