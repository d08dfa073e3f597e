package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
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

// readyz: GET /readyz — runs every check concurrently, each bounded by
// Config.CheckTimeout. A failed critical check is "down" (503), a failed
// non-critical one "degraded" (200). While draining: 503 at once.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.isDraining() {
		a.writeJSON(w, r, http.StatusServiceUnavailable, readiness{Status: "down", Draining: true, Checks: map[string]checkResult{}})
		return
	}
	results := make([]error, len(a.d.Checks))
	var wg sync.WaitGroup
	for i, c := range a.d.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), a.cfg.CheckTimeout)
			defer cancel()
			results[i] = runCheck(ctx, c.Fn)
		})
	}
	wg.Wait()
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
