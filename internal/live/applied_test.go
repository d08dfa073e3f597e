package live_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
)

// Applied says, per partition of the symbols asked about, the last message
// of that partition the State applied — not the feed's last message, which
// a quiet partition's persister never reaches (decision 0057) — and for the
// unpartitioned log the last message read.
func TestFeedApplied(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   live.Config
		wantA market.Positions // Applied([AAA]) after AAA's message 1 and BBB's message 2
		wantB market.Positions // Applied([AAA, BBB])
	}{
		{"unpartitioned", live.Config{}, market.Positions{market.Unpartitioned: 2}, market.Positions{market.Unpartitioned: 2}},
		{"partitioned", live.Config{Partitions: 2, PartitionOf: aaaFirst}, market.Positions{0: 1}, market.Positions{0: 1, 1: 2}},
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
			appendOneEach(t, b, "AAA", "BBB")
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
		return aaaFirst(sym)
	}
	b := openBus(t)
	sink := newRecorder()
	f := live.New(b, openStore(t), market.NewState(), sink, live.Config{Partitions: 2, PartitionOf: partOf}, discard(), nil)
	stop := runFeed(t, f)
	defer stop()
	appendOneEach(t, b, "AAA", "BBB", "AAA")
	sink.waitFor(t, "the messages never reached the sink", func() bool { return len(sink.msgs) == 3 })
	if n := calls.Load(); n != 3 {
		t.Errorf("PartitionOf called %d times for 3 messages, want 3", n)
	}
	if got, want := f.Applied([]string{"AAA", "BBB"}), (market.Positions{0: 3, 1: 2}); !cmp.Equal(got, want) {
		t.Errorf("Applied() = %v, want %v", got, want)
	}
}

// appliedAtPublish records, at each Publish, what the feed's Applied
// reports for the published symbol.
type appliedAtPublish struct {
	*recorder
	feed *live.Feed
	mu   sync.Mutex
	seen []market.Positions
}

func (a *appliedAtPublish) Publish(ticks []market.Tick, u *market.Update) {
	a.mu.Lock()
	a.seen = append(a.seen, a.feed.Applied([]string{ticks[0].Symbol}))
	a.mu.Unlock()
	a.recorder.Publish(ticks, u)
}

// A client that gets a tick from the sink (the WebSocket) and then asks
// for a report must find the tick's message in Applied, or the report would
// not wait for the store to hold it: the feed stores its positions before
// it publishes. With them stored after Publish, Applied at each Publish
// lags one message (map[], then map[0:1] for the second AAA).
func TestAppliedBeforePublish(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  live.Config
		want []market.Positions
	}{
		{"unpartitioned", live.Config{}, []market.Positions{{-1: 1}, {-1: 2}, {-1: 3}}},
		{"partitioned", live.Config{Partitions: 2, PartitionOf: aaaFirst}, []market.Positions{{0: 1}, {1: 2}, {0: 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openBus(t)
			sink := &appliedAtPublish{recorder: newRecorder()}
			f := live.New(b, openStore(t), market.NewState(), sink, tc.cfg, discard(), nil)
			sink.feed = f
			stop := runFeed(t, f)
			defer stop()
			appendOneEach(t, b, "AAA", "BBB", "AAA")
			sink.waitFor(t, "the messages never reached the sink", func() bool { return len(sink.msgs) == 3 })
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if !cmp.Equal(sink.seen, tc.want) {
				t.Errorf("Applied at each Publish = %v, want %v", sink.seen, tc.want)
			}
		})
	}
}

// aaaFirst puts AAA in partition 0 and every other symbol in 1.
func aaaFirst(sym string) int {
	if sym == "AAA" {
		return 0
	}
	return 1
}

// appendOneEach appends one log message of one tick for each of symbols,
// in order.
func appendOneEach(t *testing.T, b *bus.Bus, symbols ...string) {
	t.Helper()
	now := time.Now().UnixMilli()
	for _, sym := range symbols {
		if err := b.Append(context.Background(), []market.Tick{{Symbol: sym, TS: now, Price: 1, Size: 1}}); err != nil {
			t.Fatal(err)
		}
	}
}
