package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

func TestOpenRejectsBadPath(t *testing.T) {
	for _, p := range []string{"", filepath.Join(t.TempDir(), "x.db?mode=memory")} {
		if db, err := sqlite.Open(t.Context(), p, nil); !errors.Is(err, market.ErrInvalid) {
			if db != nil {
				db.Close()
			}
			t.Errorf("Open(%q) error = %v, want ErrInvalid", p, err)
		}
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), nil); err == nil {
		t.Error("Open(path in a missing directory): no error")
	}
}

// Readers never wait for the writer (WAL) and never see a half-written batch:
// every snapshot has as many 1d ticks counted as the position says were written.
func TestConcurrentReadsDuringWrites(t *testing.T) {
	db := mustOpen(t)
	const batches, per = 20, 100
	ctx := t.Context()
	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				cs, pos, err := db.RestoreState(ctx)
				if err != nil {
					errc <- err
					return
				}
				var n int64
				for _, c := range cs {
					if c.Interval == market.Interval1d {
						n += c.Count
					}
				}
				if n != int64(pos.Of(market.Unpartitioned))*per {
					errc <- errors.New("RestoreState saw a partial batch")
					return
				}
			}
		}()
	}
	ticks := make([]market.Tick, per)
	for i := range batches {
		for j := range ticks {
			g := i*per + j
			ticks[j] = market.Tick{Symbol: "AAA", TS: 1764201600000 + int64(g), Price: 1, Size: 1, Seq: uint64(g + 1)}
		}
		r := market.NewRollup()
		for j := range ticks {
			r.Add(&ticks[j])
		}
		if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, r.Candles(), 0, uint64(i+1), uint64(i+1)); err != nil {
			t.Fatalf("WriteBatch(%d) error: %v", i+1, err)
		}
	}
	close(done)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func TestDeleteTicksBeforeCancelled(t *testing.T) {
	db := mustOpen(t)
	ticks := []market.Tick{{Symbol: "AAA", TS: 1764201600000, Price: 1, Size: 1, Seq: 1}}
	if err := db.WriteBatch(t.Context(), market.Unpartitioned, ticks, nil, 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := db.DeleteTicksBefore(ctx, market.MaxTS); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteTicksBefore(cancelled) error = %v, want context.Canceled", err)
	}
	got, err := db.Ticks(t.Context(), "AAA", market.MinTS, market.MaxTS, 10)
	if err != nil || len(got) != 1 {
		t.Errorf("Ticks() after a cancelled delete = %v, %v; want the tick still there", got, err)
	}
}

// TestWriterPageCache: the writer connection's page cache is 16 MiB (the
// persister's working set outgrew SQLite's 2,000 KiB default, see
// writerCacheKiB); readers keep the default.
func TestWriterPageCache(t *testing.T) {
	db := mustOpen(t)
	w, r, err := db.CacheSizes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if w != -16384 || r != -2000 {
		t.Errorf("cache_size: writer %d, reader %d; want -16384 (16 MiB) and -2000 (the default)", w, r)
	}
}
