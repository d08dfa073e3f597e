package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// livez: GET /livez — the process is up and serving HTTP.
func (a *API) livez(w http.ResponseWriter, r *http.Request) {
	a.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

type checkResult struct {
	Status string `json:"status"` // "ok" or "down"
	Error  string `json:"error,omitempty"`
}

type readiness struct {
	Status   string                 `json:"status"` // "ok", "degraded" or "down"
	Draining bool                   `json:"draining,omitempty"`
	Checks   map[string]checkResult `json:"checks"`
}

// readyReuse is how long a round of readiness checks answers /readyz: the
// route is public and exempt from every per-client limit (a load balancer
// must get its answer), so without it anyone could make the instance ping
// its database, object storage and the rest as often as they liked.
const readyReuse = time.Second

// readyRound is one run of every readiness check.
type readyRound struct {
	at      time.Time     // when it started (Deps.Now)
	done    chan struct{} // closed once results is set
	results []error       // by index of Deps.Checks
}

// readyz: GET /readyz — runs every check concurrently, each bounded by
// Config.CheckTimeout. A failed critical check is "down" (503), a failed
// non-critical one "degraded" (200). While draining: 503 at once.
// Concurrent requests share one round of checks, and a round answers the
// requests until readyReuse after it started: at most one round a second
// whatever the request rate.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.isDraining() {
		a.writeJSON(w, r, http.StatusServiceUnavailable, readiness{Status: "down", Draining: true, Checks: map[string]checkResult{}})
		return
	}
	results, err := a.readyResults(r.Context())
	if err != nil {
		return // the client left while the round ran
	}
	out := readiness{Status: "ok", Checks: make(map[string]checkResult, len(a.d.Checks))}
	for i, c := range a.d.Checks {
		if err := results[i]; err != nil {
			out.Checks[c.Name] = checkResult{Status: "down", Error: truncate(err.Error(), 200)}
			if c.Critical {
				out.Status = "down"
			} else if out.Status == "ok" {
				out.Status = "degraded"
			}
			continue
		}
		out.Checks[c.Name] = checkResult{Status: "ok"}
	}
	status := http.StatusOK
	if out.Status == "down" {
		status = http.StatusServiceUnavailable
	}
	a.writeJSON(w, r, status, out)
}

// readyResults returns the results of the current round of checks: the
// running one, or the last one if it started less than readyReuse ago, or
// a new one run here. A round runs without the request's cancellation (the
// requests that share it must not lose it to the one that started it); an
// error is ctx's, when the request ends first.
func (a *API) readyResults(ctx context.Context) ([]error, error) {
	a.readyMu.Lock()
	rd := a.ready
	if rd == nil || a.now().Sub(rd.at) >= readyReuse && isClosed(rd.done) {
		rd = &readyRound{at: a.now(), done: make(chan struct{})}
		a.ready = rd
		a.readyMu.Unlock()
		rd.results = a.runChecks(context.WithoutCancel(ctx))
		close(rd.done)
		return rd.results, nil
	}
	a.readyMu.Unlock()
	select {
	case <-rd.done:
		return rd.results, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// runChecks runs every check concurrently, each bounded by
// Config.CheckTimeout, and returns their errors by index.
func (a *API) runChecks(ctx context.Context) []error {
	results := make([]error, len(a.d.Checks))
	var wg sync.WaitGroup
	for i, c := range a.d.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, a.cfg.CheckTimeout)
			defer cancel()
			results[i] = runCheck(ctx, c.Fn)
		})
	}
	wg.Wait()
	return results
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// runCheck calls fn, turning a check that overruns its context into the
// context's error (the check's goroutine is left to finish on its own: a
// check that ignores its context is a bug of the check).
func runCheck(ctx context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- fn(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
