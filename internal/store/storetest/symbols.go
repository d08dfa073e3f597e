package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/symbol"
)

// testSymbols checks the symbol registry: registration all or none under
// the cap, re-registration is free, removal, and concurrent registrations
// never pass the cap between them.
func testSymbols(t *testing.T, s Store) {
	ctx := t.Context()
	if got, err := s.ListSymbols(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListSymbols(empty) = %v, %v; want none", got, err)
	}
	at := created.Truncate(time.Millisecond)
	a := []symbol.Symbol{
		{Name: "ETH-USD", Source: symbol.SourceAuto, APIKeyID: 7, CreatedAt: created},
		{Name: "BTC-USD", Source: symbol.SourceAdmin, CreatedAt: created},
	}
	if n, err := s.RegisterSymbols(ctx, a, 3); err != nil || n != 2 {
		t.Fatalf("RegisterSymbols(2 of cap 3) = %d, %v; want 2, nil", n, err)
	}
	want := []symbol.Symbol{
		{Name: "BTC-USD", Source: symbol.SourceAdmin, CreatedAt: at},
		{Name: "ETH-USD", Source: symbol.SourceAuto, APIKeyID: 7, CreatedAt: at},
	}
	got, err := s.ListSymbols(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("ListSymbols() (-want +got):\n%s", diff)
	}
	// Already registered: nothing new, not counted against the cap.
	if n, err := s.RegisterSymbols(ctx, a, 2); err != nil || n != 0 {
		t.Errorf("RegisterSymbols(again, at the cap) = %d, %v; want 0, nil", n, err)
	}
	// Two new past a cap of 3: neither is taken.
	b := []symbol.Symbol{
		{Name: "SOL-USD", Source: symbol.SourceAuto, CreatedAt: created},
		{Name: "ADA-USD", Source: symbol.SourceAuto, CreatedAt: created},
		{Name: "BTC-USD", Source: symbol.SourceAuto, CreatedAt: created},
	}
	if n, err := s.RegisterSymbols(ctx, b, 3); !errors.Is(err, symbol.ErrLimit) || n != 0 {
		t.Errorf("RegisterSymbols(past the cap) = %d, %v; want 0, ErrLimit", n, err)
	}
	if got, _ := s.ListSymbols(ctx); len(got) != 2 {
		t.Errorf("after a refused registration %d symbols, want 2: %v", len(got), got)
	}
	// No cap.
	if n, err := s.RegisterSymbols(ctx, b, 0); err != nil || n != 2 {
		t.Errorf("RegisterSymbols(no cap) = %d, %v; want 2, nil", n, err)
	}
	if err := s.UnregisterSymbol(ctx, "SOL-USD"); err != nil {
		t.Fatalf("UnregisterSymbol() error: %v", err)
	}
	if err := s.UnregisterSymbol(ctx, "SOL-USD"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("UnregisterSymbol(again) error = %v, want ErrNotFound", err)
	}
	if got, _ := s.ListSymbols(ctx); len(got) != 3 {
		t.Errorf("after removal %d symbols, want 3: %v", len(got), got)
	}

	// Writers racing for the last places: the cap holds between them.
	const cap, writers = 13, 8
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range 4 {
				batch := []symbol.Symbol{
					{Name: fmt.Sprintf("R%d-%dA", w, i), Source: symbol.SourceAuto, CreatedAt: created},
					{Name: fmt.Sprintf("R%d-%dB", w, i), Source: symbol.SourceAuto, CreatedAt: created},
				}
				if _, err := s.RegisterSymbols(ctx, batch, cap); err != nil && !errors.Is(err, symbol.ErrLimit) {
					t.Errorf("RegisterSymbols(race) error: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got, _ := s.ListSymbols(ctx); len(got) > cap {
		t.Errorf("after racing registrations %d symbols, more than the cap %d", len(got), cap)
	}
}

// testAPIKeySymbols checks that a key's symbol patterns are stored and
// read back, and that none reads back as nil (every symbol).
func testAPIKeySymbols(t *testing.T, s Store) {
	ctx := t.Context()
	u := mustUser(t, s, "scoped@example.com")
	k, err := s.CreateAPIKey(ctx, auth.APIKey{UserID: u.ID, Name: "scoped", Prefix: "fd_ssss", Hash: keyHash("s"), CreatedAt: created,
		Symbols: "BTC-*,ETH-USD"}, 0)
	if err != nil {
		t.Fatalf("CreateAPIKey(scoped) error: %v", err)
	}
	if _, err := s.CreateAPIKey(ctx, auth.APIKey{UserID: u.ID, Name: "all", Prefix: "fd_tttt", Hash: keyHash("t"), CreatedAt: created}, 0); err != nil {
		t.Fatalf("CreateAPIKey(unscoped) error: %v", err)
	}
	got, err := s.APIKeyByHash(ctx, keyHash("s"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(k, got); diff != "" || got.Symbols.String() != "BTC-*,ETH-USD" {
		t.Errorf("APIKeyByHash(scoped) (-created +read):\n%s", diff)
	}
	all, err := s.APIKeyByHash(ctx, keyHash("t"))
	if err != nil {
		t.Fatal(err)
	}
	if all.Symbols != "" {
		t.Errorf("unscoped key's Symbols = %q, want none", all.Symbols)
	}
	list, err := s.ListAPIKeys(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].Symbols != "BTC-*,ETH-USD" || list[1].Symbols != "" {
		t.Errorf("ListAPIKeys() = %+v, %v; want the scoped key's patterns and none for the other", list, err)
	}
}
