package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// journal records what the services of a test did, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.events...)
}

// stopping is a service that waits for its stop, takes drain to drain, and
// records both.
func stopping(j *journal, name string, drain time.Duration) service {
	return serviceFunc(func(ctx context.Context) error {
		<-ctx.Done()
		j.add("stop " + name)
		time.Sleep(drain) // a drain in the bubble's fake time
		j.add("stopped " + name)
		return nil
	})
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestRunnerStopsLayersInReverse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal
		r := newRunner(time.Minute, quietLog())
		r.add(layerBase, "admin", stopping(&j, "admin", time.Second))
		r.add(layerLog, "persister", stopping(&j, "persister", 2*time.Second))
		r.add(layerHTTP, "http", stopping(&j, "http", 3*time.Second))
		r.add(layerReadiness, "readiness", stopping(&j, "readiness", time.Second))
		r.onClose("store", func() error { j.add("close store"); return nil })
		r.onClose("bus", func() error { j.add("close bus"); return nil })

		ctx, cancel := context.WithCancel(t.Context())
		started := false
		done := make(chan error)
		go func() { done <- r.Run(ctx, func() { started = true }) }()
		synctest.Wait()
		if !started {
			t.Fatal("started was not called once the services ran")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil after the context ended", err)
		}
		r.close()
		want := []string{
			"stop readiness", "stopped readiness",
			"stop http", "stopped http",
			"stop persister", "stopped persister",
			"stop admin", "stopped admin",
			"close bus", "close store",
		}
		if diff := cmp.Diff(want, j.get()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestRunnerFailureStopsInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal
		boom := errors.New("boom")
		r := newRunner(time.Minute, quietLog())
		r.add(layerBase, "admin", stopping(&j, "admin", 0))
		r.add(layerLog, "persister", serviceFunc(func(context.Context) error {
			time.Sleep(time.Second)
			return boom
		}))
		r.add(layerHTTP, "http", stopping(&j, "http", 0))
		err := r.Run(t.Context(), nil)
		if !errors.Is(err, boom) || err.Error() != "persister: boom" {
			t.Errorf("Run() = %v, want persister: boom", err)
		}
		want := []string{"stop http", "stopped http", "stop admin", "stopped admin"}
		if diff := cmp.Diff(want, j.get()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestRunnerFailureLoggedAsError: the stop a component's failure causes
// says why at error level, so that a log at warn (the test servers', many
// deployments') shows it; a signal's stop stays at info. At info, a loaded
// CI rehearsal's instance stopped with nothing in its warn-level log to
// say so, and the test read it as a connection problem (decision 0068).
func TestRunnerFailureLoggedAsError(t *testing.T) {
	for _, fail := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			var logs bytes.Buffer
			r := newRunner(time.Minute, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
			r.add(layerLog, "job queue", serviceFunc(func(ctx context.Context) error {
				if fail {
					return errors.New("jobs: start: unexpected EOF")
				}
				<-ctx.Done()
				return nil
			}))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error)
			go func() { done <- r.Run(ctx, nil) }()
			synctest.Wait()
			cancel()
			<-done
			got := logs.String()
			want := `"level":"ERROR","msg":"shutting down","reason":"job queue: jobs: start: unexpected EOF"`
			switch {
			case fail && !strings.Contains(got, want):
				t.Errorf("stopped by a failure, the log at warn level holds:\n%s\nwant a line with %s", got, want)
			case !fail && got != "":
				t.Errorf("stopped by a signal, the log at warn level holds:\n%s\nwant nothing (shutting down at info)", got)
			}
		})
	}
}

func TestRunnerStopBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal
		release := make(chan struct{})
		r := newRunner(10*time.Second, quietLog())
		r.add(layerBase, "admin", stopping(&j, "admin", 0))
		r.add(layerLog, "stuck", serviceFunc(func(ctx context.Context) error {
			<-ctx.Done()
			<-release // ignores the budget
			return nil
		}))
		// The readiness gate spends 4 s of the budget; the HTTP drain takes
		// its deadline from what is left.
		r.add(layerReadiness, "readiness", newReadinessGate(4*time.Second, r.budget))
		r.add(layerHTTP, "http", serviceFunc(func(ctx context.Context) error {
			<-ctx.Done()
			dl, _ := r.budget.Context().Deadline()
			j.add("http drain left " + time.Until(dl).String())
			return nil
		}))
		ctx, cancel := context.WithCancel(t.Context())
		t0 := time.Now()
		go func() { time.Sleep(time.Second); cancel() }()
		if err := r.Run(ctx, nil); err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
		if got := time.Since(t0); got != 11*time.Second {
			t.Errorf("Run returned after %v, want 11s (1s running + the 10s budget)", got)
		}
		synctest.Wait() // the layers below the stuck one were cancelled, not waited for
		want := []string{"http drain left 6s", "stop admin", "stopped admin"}
		if diff := cmp.Diff(want, j.get()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		close(release)
	})
}
