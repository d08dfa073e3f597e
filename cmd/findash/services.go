package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/symbol"
)

// This file holds the services findash's own wiring defines; the roles' loops
// (live.Feed, gateway.Hub, persist.Persister, alert.Evaluator, jobs.Queue,
// observe.Admin) are services as they are.

// readinessGate is the top layer: the first service to stop. Stopping, it
// turns /readyz to 503, then holds the rest of the stop for delay, so that
// load balancers checking readiness take the instance out of their pool
// before its feeds stop and its listeners close.
type readinessGate struct {
	delay    time.Duration
	budget   *stopBudget
	draining atomic.Bool
}

// newReadinessGate returns a gate that holds the stop for delay (0: not at
// all), at most until budget is spent.
func newReadinessGate(delay time.Duration, budget *stopBudget) *readinessGate {
	return &readinessGate{delay: delay, budget: budget}
}

// Draining reports whether the instance is stopping (api.Deps.Draining).
func (g *readinessGate) Draining() bool { return g.draining.Load() }

// Run waits until ctx ends, then marks the instance draining and waits for
// the delay or the end of the stop budget.
func (g *readinessGate) Run(ctx context.Context) error {
	<-ctx.Done()
	g.draining.Store(true)
	if g.delay > 0 {
		t := time.NewTimer(g.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-g.budget.Context().Done():
		}
	}
	return nil
}

// drainer is a handler that owns connections http.Server.Shutdown does not
// track (hijacked WebSockets): gateway.Hub.
type drainer interface {
	Drain(ctx context.Context) error
}

// httpService serves the API, WebSocket upgrades and the dashboard on one
// listener. Stopping, it first drains the hijacked connections (so their
// clients are told to reconnect while new requests still get answers), then
// lets in-flight requests finish; when the stop budget runs out it closes
// whatever is left.
type httpService struct {
	srv    *http.Server
	ln     net.Listener
	hub    drainer // nil when the instance runs no gateway
	budget *stopBudget
	log    *slog.Logger
}

// newHTTPService returns the service serving srv on ln. hub, when not nil,
// is drained before srv shuts down.
func newHTTPService(srv *http.Server, ln net.Listener, hub drainer, budget *stopBudget, log *slog.Logger) *httpService {
	return &httpService{srv: srv, ln: ln, hub: hub, budget: budget, log: log}
}

// Run serves until ctx ends, then drains. It returns Serve's error if the
// listener fails first.
func (s *httpService) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	bctx := s.budget.Context()
	if s.hub != nil {
		if err := s.hub.Drain(bctx); err != nil {
			s.log.Warn("websocket drain incomplete", "err", err)
		}
	}
	if err := s.srv.Shutdown(bctx); err != nil {
		s.log.Warn("http drain incomplete", "err", err)
		s.srv.Close()
	}
	<-served // http.ErrServerClosed, at once after Shutdown or Close
	// The upgrades gateway.Front serves are not net/http's: Shutdown did
	// not wait for them.
	if fr, ok := s.ln.(interface{ Shutdown(context.Context) error }); ok {
		if err := fr.Shutdown(bctx); err != nil {
			s.log.Warn("websocket front drain incomplete", "err", err)
		}
	}
	return nil
}

// simulatorFeed is the ingest role's in-process feed. When the instance also
// runs the live feed (ready is not nil) it starts once the live feed has
// restored the quotes, which the simulator's walks continue from.
type simulatorFeed struct {
	sim     *ingest.Simulator
	ready   <-chan struct{}
	symbols *symbol.Registry
	log     *slog.Logger
}

// Run registers the simulator's symbols, then runs the simulator until ctx
// ends. The simulator publishes to the log directly, not through the API's
// admission, so a failed registration (the database down at start) only
// leaves its symbols out of the registry's count: it is logged, not fatal.
func (f simulatorFeed) Run(ctx context.Context) error {
	if f.ready != nil {
		select {
		case <-f.ready:
		case <-ctx.Done():
			return nil
		}
	}
	if err := f.symbols.Register(ctx, f.sim.Symbols(), symbol.SourceSimulator); err != nil && ctx.Err() == nil {
		f.log.Warn("cannot register the simulator's symbols", "err", err)
	}
	return f.sim.Run(ctx)
}
