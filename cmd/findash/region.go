package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
)

// regionPoll is how often a mirror region looks at its link to the primary
// region's log: a fraction of the primary's one-second heartbeat, so the
// stale mark follows region_stale_after within half a second.
const regionPoll = 500 * time.Millisecond

// staleSetter is the gateway's view of the link: *gateway.Hub.
type staleSetter interface {
	SetStale(stale bool, since time.Time)
}

// regionWatch follows a mirror region's link to the primary region's log
// (decision 0036): when the mirror has not heard from the primary for
// region_stale_after (a partition, the primary down), WebSocket clients
// are told their data is stale and /readyz reports the region_link check
// failing (non-critical: the region keeps serving what it has); when it
// hears again, clients are told the data is live and resume receiving —
// the mirror keeps the primary's seqs, so nothing is lost or repeated.
type regionWatch struct {
	bus   *bus.Bus
	hub   staleSetter // nil without the gateway role
	after time.Duration
	now   func() time.Time
	log   *slog.Logger
	heard prometheus.Gauge
	lag   prometheus.Gauge

	mu    sync.Mutex
	stale bool
	since time.Time // when the primary was last heard from; at first, when the watch started
}

func newRegionWatch(b *bus.Bus, hub staleSetter, after time.Duration, log *slog.Logger, reg prometheus.Registerer) *regionWatch {
	w := &regionWatch{
		bus: b, hub: hub, after: after, now: time.Now, log: log.With("component", "region"),
		heard: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_region_log_unheard_seconds",
			Help: "In a mirror region, seconds since its mirror of the tick log last heard from the primary region (heartbeats every second; -1 never since the server started).",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_region_log_lag_messages",
			Help: "In a mirror region, log messages the primary region held beyond the mirror when they last spoke.",
		}),
	}
	reg.MustRegister(w.heard, w.lag)
	return w
}

// Run polls the link every regionPoll until ctx ends; then it returns nil.
func (w *regionWatch) Run(ctx context.Context) error {
	w.mu.Lock()
	w.since = w.now() // a mirror not yet heard from has that long to speak
	w.mu.Unlock()
	t := time.NewTicker(regionPoll)
	defer t.Stop()
	for {
		w.poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (w *regionWatch) poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, regionPoll)
	st, err := w.bus.MirrorState(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && st.Active >= 0 {
		w.since = now.Add(-st.Active)
		w.heard.Set(st.Active.Seconds())
		w.lag.Set(float64(st.Lag))
	} else if err == nil {
		w.heard.Set(-1)
	}
	// Stale once unheard for longer than w.after since w.since (the mirror's
	// last contact, or the start). A poll that fails (the local server slow to
	// answer on a loaded machine) tells nothing new: it leaves w.since as it
	// was rather than flapping every client to stale and back.
	stale := (err == nil && !st.Mirrored) || now.Sub(w.since) > w.after
	if stale == w.stale {
		return
	}
	w.stale = stale
	if stale {
		w.log.Warn("the primary region's log is not heard from: clients are told their data is stale",
			"last_heard", w.since, "mirror_error", st.Err, "err", err)
	} else {
		w.log.Info("the primary region's log is heard again: clients are told their data is live", "lag", st.Lag)
	}
	if w.hub != nil {
		w.hub.SetStale(stale, w.since)
	}
}

// Stale reports whether the link is stale (candles are then not answered
// from memory: live.ImportWatchConfig.LinkStale).
func (w *regionWatch) Stale() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stale
}

// Check is the region_link readiness check: an error while stale.
func (w *regionWatch) Check(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stale {
		return nil
	}
	return fmt.Errorf("the primary region's log not heard from since %s: %w", w.since.UTC().Format(time.RFC3339), market.ErrUnavailable)
}
