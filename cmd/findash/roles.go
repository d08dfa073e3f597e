package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/web"
)

// parts is what an instance runs beside its routes (the API serves a
// role's routes only on an instance of that role: apiRoles). Stage 1 runs
// every part in one process; stage 4 runs each role as its own deployment.
type parts struct {
	publish bool // ingest: POST /api/v1/ticks publishes to the log; the simulator feed
	live    bool // api, gateway: the live state from the log, the dashboard
	stream  bool // gateway: /ws, the hub's loops, the alert relay
	work    bool // worker: persister, alert evaluator, job queue with its handlers
}

// partsOf is the one table from the configured roles to the parts they run.
// A part two roles need (the live state, which the gateway streams and the
// api answers from) runs once.
func partsOf(cfg config.Config) parts {
	var p parts
	for _, role := range []string{"ingest", "gateway", "api", "worker"} {
		if !cfg.HasRole(role) {
			continue
		}
		switch role {
		case "ingest":
			p.publish = true
		case "gateway":
			p.live, p.stream = true, true
		case "api":
			p.live = true
		case "worker":
			p.work = true
		}
	}
	return p
}

// apiRoles is the API's view of the configured roles: nil (every route)
// when the instance runs them all.
func apiRoles(cfg config.Config) []string {
	if cfg.HasRole("all") {
		return nil
	}
	return cfg.Roles
}

// addRoles adds the routes and services of the parts in p. The worker's job
// handlers are not here: the job queue, which every instance opens to
// enqueue, takes them when it is opened (wire).
func (in *app) addRoles(ctx context.Context, p parts) error {
	if p.publish || p.live {
		// Ingest admits symbols with it; the live state forgets what it
		// no longer lists.
		in.r.add(layerBase, "symbol registry", in.syms)
		// /udf/search finds registered symbols without a live quote
		// (history imported), from the set the registry keeps loaded.
		in.deps.Registered = in.syms
	}
	if p.live {
		if err := in.addLive(); err != nil {
			return err
		}
	}
	if p.publish {
		in.addIngest(p.live)
	}
	if p.stream {
		in.addGateway()
	}
	if p.work {
		return in.addWorker(ctx)
	}
	return nil
}

// addLive runs the live feed (the market state, restored from the database
// and kept current from the log), serves the dashboard on the api role, and
// holds readiness until the feed has caught up with the log.
func (in *app) addLive() error {
	if in.cfg.HasRole("api") {
		dash, err := web.New(web.Config{}, in.log)
		if err != nil {
			return fmt.Errorf("dashboard: %w", err)
		}
		in.deps.Dashboard = dash
		// Candle reads answered from the live state's recent candles,
		// while the import marks say the database has no candles the
		// state has not seen and the feed has applied what it stored.
		wcfg := live.ImportWatchConfig{}
		if in.region != nil {
			wcfg.LinkStale = in.region.Stale
		}
		watch := live.NewImportWatch(in.st, in.state, in.feed, wcfg, in.log, in.reg)
		in.deps.Recent = watch
		in.r.add(layerLog, "import watch", watch)
	}
	in.deps.Checks = append(in.deps.Checks, api.Check{Name: "live_feed", Critical: true, Fn: caughtUp(in.feed.Ready())})
	in.r.add(layerLog, "live feed", in.feed)
	return nil
}

// addIngest lets POST /api/v1/ticks publish to the log and runs the
// configured feed. With the live state in the same process (live), the
// simulator continues each walk from the last quote rather than jump back
// to the built-in levels at every restart.
func (in *app) addIngest(live bool) {
	in.deps.Publisher = in.pub
	in.deps.Symbols = in.syms
	in.addVenueFeeds()
	if in.cfg.Feed != "simulator" {
		return
	}
	cfg := ingest.SimConfig{Symbols: in.cfg.SimulatorSymbols, Rate: in.cfg.SimulatorRate, Seed: in.cfg.SimulatorSeed}
	var ready <-chan struct{}
	if live {
		cfg.Start = func(sym string) (float64, bool) {
			q, ok := in.state.Quote(sym)
			return q.Price, ok
		}
		ready = in.feed.Ready()
	}
	sim := ingest.NewSimulator(in.pub, cfg, time.Now, in.log)
	in.r.add(layerFeeds, "simulator", simulatorFeed{sim: sim, ready: ready, symbols: in.syms, log: in.log})
}

// addGateway serves WebSocket upgrades once the live feed has caught up,
// runs the hub's loops and relays fired alerts from the bus to the users'
// connections; the HTTP service drains the connections when it stops.
func (in *app) addGateway() {
	in.deps.WebSocket = untilReady(in.feed.Ready(), in.hub)
	in.ws = in.hub
	in.r.add(layerLog, "gateway", in.hub)
	in.r.add(layerLog, "alert relay", serviceFunc(func(ctx context.Context) error { return in.bus.RelayAlerts(ctx, in.hub) }))
}

// addRegionWatch follows a mirror region's link to the primary region's
// log: the stale status of the gateway's clients, the region_link check.
func (in *app) addRegionWatch(p parts) {
	var hub staleSetter
	if p.stream {
		hub = in.hub
	}
	w := newRegionWatch(in.bus, hub, in.cfg.RegionStaleAfter, in.log, in.reg)
	in.region = w
	in.deps.Checks = append(in.deps.Checks, api.Check{Name: "region_link", Critical: false, Fn: w.Check})
	in.r.add(layerBase, "region link", w)
}

// addWorker persists the log, evaluates alerts and works the job queue.
// With a partitioned log it persists and evaluates its share of the
// partitions (addPartitionedWorker).
func (in *app) addWorker(ctx context.Context) error {
	if in.cfg.LogPartitions > 0 {
		if err := in.addPartitionedWorker(ctx, in.persCfg, in.evalCfg); err != nil {
			return err
		}
	} else {
		in.r.add(layerLog, "persister", in.pers)
		in.r.add(layerLog, "alert evaluator", in.eval)
	}
	in.r.add(layerLog, "job queue", in.queue)
	return nil
}

// roleMissing stands in for a component whose role this instance does not
// run. The API answers that role's routes 421 before reaching it; it is a
// second guard, answering 503, should a route ever reach it.
type roleMissing struct{ role string }

func (r roleMissing) Publish(context.Context, []market.Tick) error {
	return fmt.Errorf("this instance does not run the %s role: %w", r.role, market.ErrUnavailable)
}

// untilReady answers 503 to WebSocket upgrades until ready is closed: before
// the live feed has caught up with the log, the replay ring would hand a
// resuming client an incomplete history.
func untilReady(ready <-chan struct{}, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ready:
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"unavailable","message":"catching up with the event log; retry shortly"}}`+"\n")
		}
	})
}

// caughtUp is a readiness check that fails until ready is closed.
func caughtUp(ready <-chan struct{}) func(context.Context) error {
	return func(context.Context) error {
		select {
		case <-ready:
			return nil
		default:
			return errors.New("catching up with the event log")
		}
	}
}
