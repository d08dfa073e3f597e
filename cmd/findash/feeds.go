package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/feed"
	"github.com/findash/findash/internal/symbol"
)

// addVenueFeeds runs one exchange feed per venue of cfg.Feed (binance,
// coinbase), appending to the event log; each is a non-critical readiness
// check (a venue down degrades the instance, decision 0020).
func (in *app) addVenueFeeds() {
	venues := in.cfg.FeedVenues()
	if len(venues) == 0 {
		return
	}
	per, err := in.cfg.VenueSymbols()
	if err != nil {
		panic("config validated feed symbols: " + err.Error()) // Validate rejects this
	}
	// POST /api/v1/ticks refuses the feeds' symbols (decision 0020).
	in.deps.FedSymbols = make(map[string]string)
	for v, syms := range per {
		for _, s := range syms {
			in.deps.FedSymbols[s] = v
		}
	}
	m := feed.NewMetrics(in.reg)
	for _, v := range venues {
		cfg := feed.Config{Symbols: per[v], Silence: in.cfg.FeedSilence, StaleAfter: in.cfg.FeedStaleAfter}
		var f *feed.Feed
		switch v {
		case "binance":
			cfg.WSURL, cfg.RESTURL = in.cfg.BinanceWSURL, in.cfg.BinanceRESTURL
			f = feed.NewBinance(cfg, in.bus, m, in.log)
		case "coinbase":
			cfg.WSURL, cfg.RESTURL = in.cfg.CoinbaseWSURL, in.cfg.CoinbaseRESTURL
			f = feed.NewCoinbase(cfg, in.bus, m, in.log)
		}
		in.feeds = append(in.feeds, f)
		in.deps.Checks = append(in.deps.Checks, api.Check{Name: "feed_" + v, Fn: f.Check})
		if in.deps.Feeds == nil {
			in.deps.Feeds = in.feedStatuses
		}
		in.r.add(layerFeeds, v+" feed", venueFeed{f: f, symbols: in.syms, log: in.log})
	}
}

// feedStatuses is GET /api/v1/feeds: each feed's Status, as its readiness
// check reads it.
func (in *app) feedStatuses() []api.FeedStatus {
	out := make([]api.FeedStatus, 0, len(in.feeds))
	for _, f := range in.feeds {
		out = append(out, feedStatus(f.Status()))
	}
	return out
}

// feedStatus maps a feed's status onto the API's shape (ms, null for never).
func feedStatus(st feed.Status) api.FeedStatus {
	out := api.FeedStatus{
		Venue: st.Venue, State: st.State.String(), Symbols: st.Symbols,
		LastMessageAgeMS: st.LastMessageAge.Milliseconds(),
		Reconnects:       st.Reconnects, GapsBackfilled: st.Gaps, BackfilledTrades: st.BackfilledTrades,
		LostTrades: st.LostTrades, Messages: st.Messages, Trades: st.Trades, LastError: st.LastError,
	}
	if !st.LastMessage.IsZero() {
		ms := st.LastMessage.UnixMilli()
		out.LastMessageTS = &ms
	}
	if st.HasLag {
		lag := float64(st.Lag.Microseconds()) / 1e3
		out.LagMS = &lag
	}
	return out
}

// venueFeed registers a feed's symbols, then runs it.
type venueFeed struct {
	f       *feed.Feed
	symbols *symbol.Registry
	log     *slog.Logger
}

// Run registers the feed's symbols in the registry (as configured by the
// operator: source admin), then runs the feed until ctx ends. Symbols past
// the registry's cap stop the instance with the reason; a registry that
// cannot be reached (the database down at start) is logged, not fatal, as
// for the simulator.
func (v venueFeed) Run(ctx context.Context) error {
	if err := v.symbols.Register(ctx, v.f.Symbols(), symbol.SourceAdmin); err != nil && ctx.Err() == nil {
		var rej *symbol.RejectError
		if errors.As(err, &rej) {
			return fmt.Errorf("%s feed: %w", v.f.Venue(), err)
		}
		v.log.Warn("cannot register the feed's symbols", "venue", v.f.Venue(), "err", err)
	}
	return v.f.Run(ctx)
}
