package symbol_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/symbol"
)

var _ symbol.Store = (*sqlite.DB)(nil)

// countingStore is a real SQLite store that counts the registry's calls.
type countingStore struct {
	*sqlite.DB
	lists, registers atomic.Int64
}

func (s *countingStore) ListSymbols(ctx context.Context) ([]symbol.Symbol, error) {
	s.lists.Add(1)
	return s.DB.ListSymbols(ctx)
}

func (s *countingStore) RegisterSymbols(ctx context.Context, syms []symbol.Symbol, max int) (int, error) {
	s.registers.Add(1)
	return s.DB.RegisterSymbols(ctx, syms, max)
}

func openStore(t *testing.T) *countingStore {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "findash.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &countingStore{DB: db}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

func rejected(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "/" + l.GetValue()
			}
			out[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

func TestAdmitUpToTheCap(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	mreg := prometheus.NewRegistry()
	r := symbol.New(st, symbol.Config{Max: 10}, nil, mreg)
	w := symbol.Writer{APIKeyID: 3}

	if err := r.Admit(ctx, w, names("A", 6)); err != nil {
		t.Fatalf("Admit(6 new, cap 10) = %v", err)
	}
	err := r.Admit(ctx, w, append(names("A", 2), names("B", 5)...))
	var re *symbol.RejectError
	if !errors.As(err, &re) || re.Reason != symbol.ReasonLimit || re.Count != 5 || re.Symbol != "B0000" {
		t.Fatalf("Admit(5 new past the cap) = %v, want a limit RejectError for 5 symbols from B0000", err)
	}
	// All or none: no B was registered.
	if syms, _ := st.ListSymbols(ctx); len(syms) != 6 {
		t.Fatalf("after a refused batch %d registered, want 6", len(syms))
	}
	if err := r.Admit(ctx, w, names("B", 4)); err != nil {
		t.Fatalf("Admit(4 new, filling the cap) = %v", err)
	}
	// Past the cap, refusing costs no store call; known symbols neither.
	lists, registers := st.lists.Load(), st.registers.Load()
	for range 1000 {
		if err := r.Admit(ctx, w, names("C", 100)); !errors.As(err, &re) {
			t.Fatalf("Admit(past the cap) = %v", err)
		}
		if err := r.Admit(ctx, w, names("A", 6)); err != nil {
			t.Fatalf("Admit(registered) = %v", err)
		}
	}
	if st.lists.Load() > lists+1 || st.registers.Load() != registers {
		t.Errorf("1000 refusals and admissions made %d list and %d register calls; want at most one reload",
			st.lists.Load()-lists, st.registers.Load()-registers)
	}
	got := rejected(t, mreg)
	if got["findash_symbols_registered"] != 10 || got["findash_symbols_max"] != 10 || got["findash_symbols_rejected_total/limit"] != 5+100*1000 {
		t.Errorf("metrics = %v", got)
	}
	syms, err := r.List(ctx)
	if err != nil || len(syms) != 10 || syms[0].Source != symbol.SourceAuto || syms[0].APIKeyID != 3 {
		t.Errorf("List() = %+v, %v", syms, err)
	}
	// Removing frees a place.
	if err := r.Remove(ctx, "A0000"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, "A0000"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Remove(again) = %v, want ErrNotFound", err)
	}
	if err := r.Admit(ctx, w, []string{"D"}); err != nil {
		t.Errorf("Admit(1 new after a removal) = %v", err)
	}
}

func TestAdmitScope(t *testing.T) {
	ctx := t.Context()
	mreg := prometheus.NewRegistry()
	r := symbol.New(openStore(t), symbol.Config{}, nil, mreg)
	w := symbol.Writer{APIKeyID: 1, Patterns: "BTC-*,ETH-USD"}
	if err := r.Admit(ctx, w, []string{"BTC-USD", "ETH-USD"}); err != nil {
		t.Fatalf("Admit(in scope) = %v", err)
	}
	err := r.Admit(ctx, w, []string{"BTC-EUR", "SOL-USD", "ETH-EUR"})
	var re *symbol.RejectError
	if !errors.As(err, &re) || re.Reason != symbol.ReasonScope || re.Symbol != "SOL-USD" || re.Count != 2 {
		t.Fatalf("Admit(out of scope) = %v, want a scope RejectError for SOL-USD and one more", err)
	}
	if r.Known("BTC-EUR") {
		t.Errorf("BTC-EUR of a refused batch was registered")
	}
	if got := rejected(t, mreg)["findash_symbols_rejected_total/scope"]; got != 2 {
		t.Errorf("rejected{scope} = %v, want 2", got)
	}
}

func TestStrictAdmitsOnlyRegistered(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	r := symbol.New(st, symbol.Config{Strict: true}, nil, nil)
	var re *symbol.RejectError
	if err := r.Admit(ctx, symbol.Writer{}, []string{"NEW"}); !errors.As(err, &re) || re.Reason != symbol.ReasonUnknown {
		t.Fatalf("Admit(unregistered, strict) = %v, want unknown", err)
	}
	// Registered by another process (the command line): learnt on demand.
	other := symbol.New(st, symbol.Config{}, nil, nil)
	if err := other.Register(ctx, []string{"NEW"}, symbol.SourceAdmin); err != nil {
		t.Fatal(err)
	}
	// The refusal above loaded the set less than a second ago; the next
	// unknown symbol looks again only once that second has passed, so
	// reload through Run's path instead of waiting.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(rctx) }()
	for !r.Known("NEW") {
		if err := r.Admit(ctx, symbol.Writer{}, []string{"NEW"}); err == nil {
			break
		}
	}
	cancel()
	<-done
	if err := r.Admit(ctx, symbol.Writer{}, []string{"NEW"}); err != nil {
		t.Errorf("Admit(registered, strict) = %v", err)
	}
	if err := r.Register(ctx, []string{"bad symbol"}, symbol.SourceAdmin); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("Register(invalid) = %v, want ErrInvalid", err)
	}
}

// TestAdmitConcurrent: many writers racing past the cap never register
// more than it between them.
func TestAdmitConcurrent(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	a := symbol.New(st, symbol.Config{Max: 50}, nil, nil)
	b := symbol.New(st, symbol.Config{Max: 50}, nil, nil) // another instance
	var wg sync.WaitGroup
	for w := range 8 {
		r := a
		if w%2 == 1 {
			r = b
		}
		wg.Go(func() {
			for i := range 10 {
				err := r.Admit(ctx, symbol.Writer{APIKeyID: int64(w)}, names(fmt.Sprintf("W%d-%d-", w, i), 3))
				var re *symbol.RejectError
				if err != nil && !errors.As(err, &re) {
					t.Errorf("Admit() = %v", err)
				}
			}
		})
	}
	wg.Wait()
	if syms, _ := st.ListSymbols(ctx); len(syms) > 50 {
		t.Errorf("%d symbols registered, more than the cap 50", len(syms))
	}
}

// TestLoadedReportsTheSet: every load hands Config.Loaded the registered
// set and the time just before it was read.
func TestLoadedReportsTheSet(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	if _, err := st.RegisterSymbols(ctx, []symbol.Symbol{{Name: "A", Source: symbol.SourceAdmin}}, 0); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_764_201_600, 0)
	var gotAt time.Time
	var hasA, hasB bool
	r := symbol.New(st, symbol.Config{Now: func() time.Time { return at }, Loaded: func(registered func(string) bool, readAt time.Time) {
		gotAt, hasA, hasB = readAt, registered("A"), registered("B")
	}}, nil, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(rctx) }()
	for !r.Known("A") {
		runtime.Gosched()
	}
	cancel()
	<-done
	if !gotAt.Equal(at) || !hasA || hasB {
		t.Errorf("Loaded(A %v, B %v, at %v), want A registered, B not, at %v", hasA, hasB, gotAt, at)
	}
}

// TestLoadedSetNotSharedWithRegister: the set Config.Loaded reads is not
// the map Admit grows (a data race under -race: the live state's hook
// walked it while a POST registered new symbols).
func TestLoadedSetNotSharedWithRegister(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	loaded := make(chan func(string) bool, 1)
	r := symbol.New(st, symbol.Config{Loaded: func(registered func(string) bool, _ time.Time) {
		select {
		case loaded <- registered:
		default:
		}
	}}, nil, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(rctx) }()
	defer func() { cancel(); <-done }()
	registered := <-loaded
	admitted := make(chan error)
	go func() {
		for i := range 200 {
			if err := r.Admit(ctx, symbol.Writer{}, []string{fmt.Sprintf("NEW%d", i)}); err != nil {
				admitted <- err
				return
			}
		}
		admitted <- nil
	}()
	for i := range 2000 {
		if registered(fmt.Sprintf("NEW%d", i%200)) {
			t.Fatalf("the loaded set changed after the load: NEW%d appeared", i%200)
		}
	}
	if err := <-admitted; err != nil {
		t.Fatalf("Admit: %v", err)
	}
}

// TestSearch: Search lists the registered names that match, sorted, at
// most limit, and sees a registration at once.
func TestSearch(t *testing.T) {
	st := openStore(t)
	r := symbol.New(st, symbol.Config{Max: 100}, nil, nil)
	if err := r.Register(t.Context(), []string{"SOL-USDT", "BTC-USDT", "ETH-USD", "BTC-USD"}, symbol.SourceImport); err != nil {
		t.Fatal(err)
	}
	hasBTC := func(n string) bool { return strings.Contains(n, "BTC") }
	if got := r.Search(hasBTC, 10); fmt.Sprint(got) != "[BTC-USD BTC-USDT]" {
		t.Errorf("Search(BTC, 10) = %v, want [BTC-USD BTC-USDT]", got)
	}
	if got := r.Search(func(string) bool { return true }, 3); fmt.Sprint(got) != "[BTC-USD BTC-USDT ETH-USD]" {
		t.Errorf("Search(all, 3) = %v, want the first 3 by name", got)
	}
	if got := r.Search(hasBTC, 0); len(got) != 0 {
		t.Errorf("Search(BTC, 0) = %v, want none", got)
	}
	syms, err := st.ListSymbols(t.Context())
	if err != nil || len(syms) != 4 || syms[0].Source != symbol.SourceImport {
		t.Errorf("ListSymbols = %+v, %v; want 4 of source import", syms, err)
	}
}

// gatedStore is a real SQLite store whose RegisterSymbols calls wait for
// open to be closed, and count.
type gatedStore struct {
	*countingStore
	entered chan struct{} // one send per call, before it waits
	open    chan struct{}
}

func (s *gatedStore) RegisterSymbols(ctx context.Context, syms []symbol.Symbol, max int) (int, error) {
	s.entered <- struct{}{}
	<-s.open
	return s.countingStore.RegisterSymbols(ctx, syms, max)
}

// admitWhileGated admits first alone, and once its registration is in the
// store, each of later from its own goroutine; then it lets the store go
// on. It returns the Admits' errors (first's at 0) and how many store
// calls registered them.
func admitWhileGated(t *testing.T, max int, first string, later []string) ([]error, int64) {
	t.Helper()
	ctx := t.Context()
	st := &gatedStore{countingStore: openStore(t), entered: make(chan struct{}, 100), open: make(chan struct{})}
	r := symbol.New(st, symbol.Config{Max: max}, nil, nil)
	errs := make([]error, 1+len(later))
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = r.Admit(ctx, symbol.Writer{APIKeyID: 1}, []string{first}) })
	<-st.entered
	var started sync.WaitGroup
	for i, s := range later {
		started.Add(1)
		wg.Go(func() {
			started.Done()
			errs[1+i] = r.Admit(ctx, symbol.Writer{APIKeyID: int64(2 + i)}, []string{s})
		})
	}
	started.Wait()
	// Let the later Admits reach the registry (real time: nothing here
	// reads a clock; a straggler only makes one more store call).
	time.Sleep(100 * time.Millisecond)
	close(st.open)
	wg.Wait()
	return errs, st.registers.Load()
}

// TestAdmitBurstSharesStoreCalls: Admits of new symbols that arrive while
// a registration is in the store go to it together, in one call — the
// first second of a feed of new symbols, 32 requests at a time, made 244
// transactions for 100 symbols, each request waiting for the database's
// single writer.
func TestAdmitBurstSharesStoreCalls(t *testing.T) {
	later := names("L", 20)
	errs, calls := admitWhileGated(t, 100, "FIRST", later)
	for i, err := range errs {
		if err != nil {
			t.Errorf("Admit %d = %v", i, err)
		}
	}
	if calls > 3 { // the first, the batch of the 20 (and a straggler's)
		t.Errorf("%d store calls for 21 Admits arriving together; want 2 (3 with a straggler)", calls)
	}
}

// TestAdmitBurstKeepsTheCapPerBatch: a shared store call refused at the
// cap does not refuse an Admit that fits alone — each is tried alone.
func TestAdmitBurstKeepsTheCapPerBatch(t *testing.T) {
	errs, _ := admitWhileGated(t, 2, "FIRST", []string{"B", "C"})
	if errs[0] != nil {
		t.Fatalf("first Admit = %v", errs[0])
	}
	var ok, limit int
	for _, err := range errs[1:] {
		var re *symbol.RejectError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &re) && re.Reason == symbol.ReasonLimit:
			limit++
		default:
			t.Errorf("Admit = %v", err)
		}
	}
	if ok != 1 || limit != 1 {
		t.Errorf("of B and C under a cap of 2 with FIRST registered: %d admitted, %d refused at the cap; want 1 and 1", ok, limit)
	}
}
