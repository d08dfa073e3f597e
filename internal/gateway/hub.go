package gateway

// The Hub: its state, construction and background loop.

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/uring"
)

// Source is the live market state the hub reads snapshots from; satisfied
// by *market.State.
type Source interface {
	Quote(symbol string) (market.Quote, bool)
	Quotes(symbols []string) []market.Quote
	OpenCandle(symbol string, iv market.Interval) (market.Candle, bool)
}

// Hub is the WebSocket gateway: it accepts connections on ServeHTTP, keeps
// their subscriptions and fans published ticks, candles, quotes and alerts
// out to them. See the package documentation for its concurrency and
// overflow rules.
type Hub struct {
	src     Source
	cfg     Config
	log     *slog.Logger
	met     *metrics
	up      *wsUpgrader
	auth    atomic.Pointer[authHolder]
	floor   atomic.Uint64
	histSem chan struct{} // a slot per History read in progress

	shards [numShards]shard

	ringLog    sync.Once     // "io_uring is not available", once per hub
	writers    []writerShard // the writer pool (Config.Writers)
	nextWriter atomic.Uint32 // the pool's writer of the next connection

	// queues holds the large queue slices (*[][]byte, empty) that
	// connections let go when their writer stops (idleLocked), for the
	// next connection whose queue starts from nothing: a connection
	// written in rounds, its writer stopping in between (the fan-in: ~50
	// messages per WriteCoalesce), grew a new slice each round — 82 % of
	// the server's allocations at 1M deliveries/s — while an idle one
	// must hold none. The pool empties itself over garbage collections.
	queues sync.Pool

	// dropped is the highest floor of the topics dropped from the index
	// (idle, nobody subscribed): a topic created again starts there, so a
	// resume from before it is told of a gap instead of missing ticks
	// silently. It may name ticks of other symbols: a gap is an upper bound.
	dropped atomic.Uint64

	quotesMu   sync.Mutex // guards quoteSubs
	quoteSubs  subList
	pendingMu  sync.Mutex // guards pendingQ and qbuf
	pendingQ   map[string]market.Quote
	qbuf       []market.Quote
	alertsMu   sync.Mutex
	alertsSubs map[int64]*subList

	connsMu  sync.Mutex
	conns    map[*conn]struct{}
	draining bool
	status   []byte  // the stale status message while stale (SetStale); nil when live
	nextSlot uint8   // the ping slot of the next connection
	pingList []*conn // Run only: the connections of the slot being pinged
	// byUser indexes the authenticated connections in conns by user, with
	// the session each was opened with: CloseUser and the session sweep
	// touch only those, never the anonymous majority.
	byUser map[int64][]userConn
	// connecting counts the requests between beginConnect and endConnect
	// (authenticated, perhaps, but not yet in conns); while there are any,
	// CloseUser records its user in revoked with its closeSeq, so that
	// addConn closes a connection authenticated before the user's session
	// ended but added after CloseUser looked (emptied when none connect,
	// and rid of entries older than Config.RevocationMemory otherwise:
	// forgotSeq is the newest closeSeq forgotten so, revokedSwept when).
	connecting   int
	closeSeq     uint64
	revoked      map[int64]revocation
	forgotSeq    uint64
	revokedSwept time.Time
}

// authHolder holds the authenticator; s is it as a SessionAuthenticator,
// or nil.
type authHolder struct {
	a Authenticator
	s SessionAuthenticator
}

// New returns a Hub reading snapshots from src. It starts no goroutines:
// call Run for the background loops. reg may be nil (no metrics).
func New(src Source, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Hub {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		src:        src,
		cfg:        cfg,
		log:        log.With("component", "gateway"),
		met:        newMetrics(reg),
		histSem:    make(chan struct{}, cfg.HistoryReaders),
		pendingQ:   make(map[string]market.Quote),
		alertsSubs: make(map[int64]*subList),
		conns:      make(map[*conn]struct{}),
		revoked:    make(map[int64]revocation),
		byUser:     make(map[int64][]userConn),
	}
	for i := range h.shards {
		h.shards[i].syms = make(map[string]*symbolTopic)
	}
	h.writers = make([]writerShard, cfg.Writers)
	rings := make([]*uring.Ring, cfg.Writers)
	for i := range h.writers {
		h.writers[i] = writerShard{hub: h, met: h.met, ring: &rings[i], ringOff: cfg.IOURingOff}
	}
	// The rings live as long as the hub: a writer sets its ring up on
	// first use and keeps it; they are closed when the hub is collected
	// (rings reaches no hub, so the cleanup can run).
	runtime.AddCleanup(h, closeRings, rings)
	h.up = newUpgrader(h.checkOrigin, &h.cfg, newFrameMetrics(reg))
	if cfg.Auth != nil {
		h.SetAuthenticator(cfg.Auth)
	}
	return h
}

// closeRings closes the writers' io_uring rings (a cleanup of the hub).
func closeRings(rings []*uring.Ring) {
	for _, r := range rings {
		if r != nil {
			r.Close()
		}
	}
}

// SetAuthenticator sets (or, with nil, removes) the authenticator used for
// connections opened from now on. Safe to call at any time.
func (h *Hub) SetAuthenticator(a Authenticator) {
	if a == nil {
		h.auth.Store(nil)
		return
	}
	s, _ := a.(SessionAuthenticator)
	h.auth.Store(&authHolder{a, s})
}

// SetFloor declares that the hub holds every tick with seq > floor: a
// client resuming from an older seq of a symbol the hub holds nothing
// newer for is sent a gap up to floor. Call it before Publish when the
// live feed starts reading the log.
func (h *Hub) SetFloor(seq uint64) {
	h.floor.Store(seq)
	h.eachTopic(func(t *symbolTopic) {
		if t.n == 0 && t.floor < seq {
			t.floor = seq
		}
	})
}

// Run runs the background loops — quotes conflation (at most every
// QuotesInterval), pings every PingInterval, pruning of replay rings and
// the session checks (SessionCheckInterval) — until ctx ends; then it
// returns nil.
func (h *Hub) Run(ctx context.Context) error {
	quotes := time.NewTicker(h.cfg.QuotesInterval)
	defer quotes.Stop()
	ping := time.NewTicker(max(h.cfg.PingInterval/pingSlots, time.Millisecond))
	defer ping.Stop()
	var sweeps sync.WaitGroup
	defer sweeps.Wait()
	if h.cfg.SessionCheckInterval > 0 {
		// Apart from the loop below: a check waits on the session store.
		sweeps.Go(func() { h.runSessionChecks(ctx) })
	}
	var slot uint8
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-quotes.C:
			h.flushQuotes()
		case <-ping.C:
			h.pingSlot(slot)
			if slot = (slot + 1) % pingSlots; slot == 0 {
				cutoff := h.cfg.Now().UnixNano() - h.cfg.ReplayAge.Nanoseconds()
				h.eachTopic(func(t *symbolTopic) {
					t.prune(cutoff)
					h.dropIfEmpty(t) // an idle symbol nobody follows costs nothing
				})
			}
		}
	}
}
