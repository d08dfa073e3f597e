package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// A service is one long-running part of an instance: a role's loop, a
// listener, a feed. Run works until ctx ends, then stops — draining, if it
// has anything to drain, within the runner's stopBudget — and returns. An
// error returned while ctx is still live is a failure: it stops the whole
// instance. An error returned after ctx ended is not reported (the service
// logs what it could not finish).
type service interface {
	Run(ctx context.Context) error
}

// serviceFunc adapts a function to service.
type serviceFunc func(ctx context.Context) error

// Run calls f.
func (f serviceFunc) Run(ctx context.Context) error { return f(ctx) }

// The layers of an instance, in start order. The runner stops them in the
// reverse order, each only once every service of the layer above has
// returned, so a layer keeps working while those above it drain. The
// resources the services use (database, event log, Redis, job queue,
// tracing) are opened before the first layer starts and closed after the
// last has stopped (runner.onClose).
const (
	// layerBase holds what must work from the first moment to the last: the
	// admin listener (metrics during the whole drain) and database upkeep.
	layerBase = iota
	// layerLog holds the readers of the event log and their loops: the live
	// feed, the gateway's loops and alert relay, the worker's persister,
	// alert evaluator and job queue. They stop after the listeners, so the
	// persister flushes what the drained requests produced.
	layerLog
	// layerHTTP is the HTTP listener (API, WebSocket upgrades, dashboard).
	// Stopping, it tells WebSocket clients to reconnect, then lets in-flight
	// requests finish.
	layerHTTP
	// layerFeeds holds the producers of ticks inside the process (the
	// simulator): they stop before the listeners drain.
	layerFeeds
	// layerReadiness is the readiness gate: the first to stop, it turns
	// /readyz to 503 and holds the rest of the stop for drain_delay.
	layerReadiness
	numLayers
)

// layerNames name the layers in logs.
var layerNames = [numLayers]string{"base", "log readers", "http", "feeds", "readiness"}

// namedService is a service and the name its failure is reported under.
type namedService struct {
	name string
	svc  service
}

// closer closes one resource once the instance has stopped.
type closer struct {
	what string
	fn   func() error
}

// runner starts an instance's services layer by layer and stops them in
// reverse (see the layer constants), all within one stopBudget, then closes
// the resources in the reverse order of their opening. It is not safe for
// concurrent use: the wiring adds services and closers, then one goroutine
// calls Run and close.
type runner struct {
	log     *slog.Logger
	budget  *stopBudget
	layers  [numLayers][]namedService
	closers []closer
}

// newRunner returns a runner whose stop takes at most timeout (the
// configuration's shutdown_timeout).
func newRunner(timeout time.Duration, log *slog.Logger) *runner {
	return &runner{log: log, budget: &stopBudget{timeout: timeout}}
}

// add adds svc to layer under name.
func (r *runner) add(layer int, name string, svc service) {
	r.layers[layer] = append(r.layers[layer], namedService{name, svc})
}

// onClose registers fn to close a resource after every service has
// stopped. Closers run in the reverse order of registration, so a resource
// closes before the ones it was opened on; register each right after
// opening it, and they also run when the wiring fails half-way.
func (r *runner) onClose(what string, fn func() error) {
	r.closers = append(r.closers, closer{what, fn})
}

// close runs the closers, last registered first, and logs their failures.
func (r *runner) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		closeLogged(r.log, r.closers[i].what, r.closers[i].fn)
	}
	r.closers = nil
}

// Run starts the layers in order and calls started (when not nil) once
// every service is running. It then waits until ctx ends or a service
// fails, and stops the layers from the top down, each after the layer
// above it has returned. When the stop budget runs out first it logs which
// layer did not stop, cancels the rest and returns without waiting further.
// Run returns the failure that stopped the instance, or nil when ctx ended.
func (r *runner) Run(ctx context.Context, started func()) error {
	// g's context ends with ctx or with the first failure (its cause). The
	// services themselves run on contexts of their own, cut from ctx's
	// cancellation, so each layer stops only when its turn comes.
	g, gctx := errgroup.WithContext(ctx)
	var stops [numLayers]context.CancelFunc
	var running [numLayers]sync.WaitGroup
	for l := range numLayers {
		lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		stops[l] = stop
		for _, s := range r.layers[l] {
			running[l].Add(1)
			g.Go(func() error {
				defer running[l].Done()
				if err := s.svc.Run(lctx); err != nil && lctx.Err() == nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				return nil
			})
		}
	}
	if started != nil {
		started()
	}

	<-gctx.Done()
	cause := context.Cause(gctx)
	if errors.Is(cause, context.Canceled) {
		cause = nil
	}
	// A failure says why at error level: a log kept at warn showed no
	// sign of why an instance stopped (it prints its error only as it
	// exits, after the drain), and its closed listener was taken for a
	// connection problem (decision 0068).
	level := slog.LevelInfo
	if cause != nil {
		level = slog.LevelError
	}
	r.log.Log(context.Background(), level, "shutting down", "reason", reasonOf(cause), "timeout", r.budget.timeout)
	budget := r.budget.Context() // the budget starts now
	defer r.budget.release()
	for l := numLayers - 1; l >= 0; l-- {
		stops[l]()
		done := make(chan struct{})
		go func() { running[l].Wait(); close(done) }()
		select {
		case <-done:
		case <-budget.Done():
			r.log.Warn("services did not stop within the shutdown timeout", "layer", layerNames[l])
			return cause
		}
	}
	g.Wait() // every service has returned; the failure, if any, is cause
	return cause
}

// stopBudget is the one allowance of time a stop has (shutdown_timeout). It
// starts when the runner begins stopping; the readiness delay, the HTTP and
// WebSocket drains and the runner's wait for each layer all take their
// deadline from it, so the whole stop fits in it however its parts share it.
type stopBudget struct {
	timeout time.Duration
	once    sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
}

// Context returns the context that ends when the budget is spent. The first
// call starts the budget: the runner makes it when it begins stopping, before
// any service's context ends.
func (b *stopBudget) Context() context.Context {
	b.once.Do(func() { b.ctx, b.cancel = context.WithTimeout(context.Background(), b.timeout) })
	return b.ctx
}

// release frees the budget's timer.
func (b *stopBudget) release() {
	b.Context()
	b.cancel()
}

func reasonOf(cause error) string {
	if cause == nil {
		return "signal"
	}
	return cause.Error()
}

func closeLogged(log *slog.Logger, what string, fn func() error) {
	if err := fn(); err != nil {
		log.Warn("close failed", "what", what, "err", err)
	}
}
