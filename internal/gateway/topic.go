package gateway

// The symbol index: one topic per symbol, in shards.

import (
	"sync"

	"github.com/findash/findash/internal/market"
)

// numShards splits the symbol index so that publishing one symbol and
// subscribing to another never contend on the same lock.
const numShards = 32

type shard struct {
	mu   sync.RWMutex
	syms map[string]*symbolTopic
}

// symbolTopic is everything about one symbol: its replay ring and the
// subscribers of its ticks and candle channels. Guarded by mu, which is
// held while fanning out so that registration plus replay of a new
// subscriber is atomic with respect to live ticks.
type symbolTopic struct {
	mu         sync.Mutex
	sym        string
	ticksName  string
	candleName [market.NumIntervals]string // see candleChannel
	removed    bool                        // taken out of its shard; re-look it up

	// replay ring: ring[(start+i)%len(ring)] for i < n, oldest first
	ring  []ringEntry
	start int
	n     int
	floor uint64 // newest seq not held (evicted, or below the hub floor)
	last  uint64 // newest seq published

	ticks   subList
	candles [market.NumIntervals]subList

	batch  []ringEntry // scratch for Publish, reused
	spans  []tickSpan  // scratch for Publish, reused
	starts []int       // scratch for Publish, reused
}

func newSymbolTopic(sym string, floor uint64) *symbolTopic {
	return &symbolTopic{sym: sym, ticksName: "ticks:" + sym, floor: floor, last: floor}
}

// candleChannel returns the name of t's candles channel of interval iv,
// made on first use: most symbols have no candle subscriber, and a name
// costs ~30 bytes for each of the six intervals. Caller holds t.mu.
func (t *symbolTopic) candleChannel(iv market.Interval) string {
	if t.candleName[iv] == "" {
		t.candleName[iv] = "candles:" + t.sym + ":" + iv.String()
	}
	return t.candleName[iv]
}

func (t *symbolTopic) empty() bool {
	if len(t.ticks) > 0 || t.n > 0 {
		return false
	}
	for i := range t.candles {
		if len(t.candles[i]) > 0 {
			return false
		}
	}
	return true
}

func shardOf(sym string) int {
	// FNV-1a, inline to stay allocation-free
	h := uint32(2166136261)
	for i := 0; i < len(sym); i++ {
		h ^= uint32(sym[i])
		h *= 16777619
	}
	return int(h % numShards)
}

// lockTopic returns sym's topic with its mutex held, creating it when create
// is set; nil (and nothing locked) when it does not exist and create is not set.
func (h *Hub) lockTopic(sym string, create bool) *symbolTopic {
	sh := &h.shards[shardOf(sym)]
	for {
		sh.mu.RLock()
		t := sh.syms[sym]
		sh.mu.RUnlock()
		if t == nil {
			if !create {
				return nil
			}
			sh.mu.Lock()
			if t = sh.syms[sym]; t == nil {
				t = newSymbolTopic(sym, max(h.floor.Load(), h.dropped.Load()))
				sh.syms[sym] = t
			}
			sh.mu.Unlock()
		}
		t.mu.Lock()
		if !t.removed {
			return t
		}
		t.mu.Unlock()
	}
}

// dropIfEmpty removes t from its shard when nothing refers to it any more.
// Caller holds t.mu; lock order shard.mu after topic.mu is safe here
// because nobody holds shard.mu while waiting for a topic lock.
func (h *Hub) dropIfEmpty(t *symbolTopic) {
	if !t.empty() {
		return
	}
	for d := h.dropped.Load(); d < t.floor && !h.dropped.CompareAndSwap(d, t.floor); d = h.dropped.Load() {
	}
	sh := &h.shards[shardOf(t.sym)]
	sh.mu.Lock()
	if sh.syms[t.sym] == t {
		delete(sh.syms, t.sym)
	}
	sh.mu.Unlock()
	t.removed = true
}

// eachTopic calls fn for every topic with its mutex held.
func (h *Hub) eachTopic(fn func(*symbolTopic)) {
	var ts []*symbolTopic
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for _, t := range sh.syms {
			ts = append(ts, t)
		}
		sh.mu.RUnlock()
	}
	for _, t := range ts {
		t.mu.Lock()
		if !t.removed {
			fn(t)
		}
		t.mu.Unlock()
	}
}
