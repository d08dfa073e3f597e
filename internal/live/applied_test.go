package live_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
)

// Applied says, per partition of the symbols asked about, the last message
// of that partition the State applied — not the feed's last message, which
// a quiet partition's persister never reaches (decision 0057) — and for the
// unpartitioned log the last message read.
func TestFeedApplied(t *testing.T) {
	partOf := func(sym string) int {
		if sym == "AAA" {
			return 0
		}
		return 1
	}
	for _, tc := range []struct {
		name  string
		cfg   live.Config
		wantA market.Positions // Applied([AAA]) after AAA's message 1 and BBB's message 2
		wantB market.Positions // Applied([AAA, BBB])
	}{
		{"unpartitioned", live.Config{}, market.Positions{market.Unpartitioned: 2}, market.Positions{market.Unpartitioned: 2}},
		{"partitioned", live.Config{Partitions: 2, PartitionOf: partOf}, market.Positions{0: 1}, market.Positions{0: 1, 1: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openBus(t)
			db := openStore(t)
			sink := newRecorder()
			f := live.New(b, db, market.NewState(), sink, tc.cfg, discard(), nil)
			stop := runFeed(t, f)
			defer stop()
			if got := f.Applied([]string{"AAA", "BBB"}); len(got) != 0 {
				t.Errorf("Applied() before any message = %v, want none", got)
			}
			now := time.Now().UnixMilli()
			for _, sym := range []string{"AAA", "BBB"} {
				if err := b.Append(context.Background(), []market.Tick{{Symbol: sym, TS: now, Price: 1, Size: 1}}); err != nil {
					t.Fatal(err)
				}
			}
			sink.waitFor(t, "both messages never reached the sink", func() bool { return len(sink.msgs) == 2 })
			if got := f.Applied([]string{"AAA"}); !cmp.Equal(got, tc.wantA) {
				t.Errorf("Applied([AAA]) = %v, want %v", got, tc.wantA)
			}
			if got := f.Applied([]string{"AAA", "BBB"}); !cmp.Equal(got, tc.wantB) {
				t.Errorf("Applied([AAA BBB]) = %v, want %v", got, tc.wantB)
			}
		})
	}
}

// The feed hashes a partitioned message's symbol once (Config.PartitionOf),
// for both the check whether the restored state holds it and Applied's
// position: it hashed it twice per message before.
func TestFeedHashesOncePerMessage(t *testing.T) {
	var calls atomic.Int64
	partOf := func(sym string) int {
		calls.Add(1)
		if sym == "AAA" {
			return 0
		}
		return 1
	}
	b := openBus(t)
	sink := newRecorder()
	f := live.New(b, openStore(t), market.NewState(), sink, live.Config{Partitions: 2, PartitionOf: partOf}, discard(), nil)
	stop := runFeed(t, f)
	defer stop()
	now := time.Now().UnixMilli()
	for _, sym := range []string{"AAA", "BBB", "AAA"} {
		if err := b.Append(context.Background(), []market.Tick{{Symbol: sym, TS: now, Price: 1, Size: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	sink.waitFor(t, "the messages never reached the sink", func() bool { return len(sink.msgs) == 3 })
	if n := calls.Load(); n != 3 {
		t.Errorf("PartitionOf called %d times for 3 messages, want 3", n)
	}
	if got, want := f.Applied([]string{"AAA", "BBB"}), (market.Positions{0: 3, 1: 2}); !cmp.Equal(got, want) {
		t.Errorf("Applied() = %v, want %v", got, want)
	}
}
