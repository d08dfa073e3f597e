package retry_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/findash/findash/internal/retry"
)

var policies = map[string]retry.Policy{
	"Database":     retry.Database(),
	"Log":          retry.Log(),
	"LogSetup":     retry.LogSetup(),
	"JobMigration": retry.JobMigration(),
	"Ingest":       retry.Ingest(),
}

// TestWaitsGrowWithJitter checks each policy's waits against its numbers:
// within ±Jitter of min(Initial·Multiplier^n, Max), and not all equal to
// that (the jitter is there).
func TestWaitsGrowWithJitter(t *testing.T) {
	for name, p := range policies {
		t.Run(name, func(t *testing.T) {
			if p.Jitter <= 0 || p.Initial <= 0 || p.Max < p.Initial || p.Multiplier <= 1 {
				t.Fatalf("policy %+v: want jitter, a positive start, a cap above it, and growth", p)
			}
			b := p.BackOff()
			step, exact := p.Initial, 0
			for n := range 20 {
				got := b.NextBackOff()
				lo := time.Duration(float64(step) * (1 - p.Jitter))
				hi := time.Duration(float64(step)*(1+p.Jitter)) + 1
				if got < lo || got > hi {
					t.Errorf("wait %d = %v, want in [%v, %v]", n+1, got, lo, hi)
				}
				if got == step {
					exact++
				}
				step = min(time.Duration(float64(step)*p.Multiplier), p.Max)
			}
			if exact == 20 {
				t.Error("every wait is exactly the exponential step: no jitter")
			}
		})
	}
}

// TestRetriesUntilContextEnds checks that an unbounded policy keeps
// retrying past backoff's default 15-minute limit, and stops waiting as soon
// as its context ends.
func TestRetriesUntilContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		boom := errors.New("down")
		tries := 0
		v, err := backoff.Retry(t.Context(), func() (int, error) {
			tries++
			if time.Since(start) < time.Hour {
				return 0, boom
			}
			return 42, nil
		}, retry.Database().Options(nil)...)
		if err != nil || v != 42 {
			t.Fatalf("Retry = %d, %v after %v and %d tries; want 42 after an hour", v, err, time.Since(start), tries)
		}
		// An hour at the 5 s cap (±20%) is about 720 tries.
		if tries < 600 || tries > 950 {
			t.Errorf("%d tries in an hour, want about 720", tries)
		}

		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		start = time.Now()
		_, err = backoff.Retry(ctx, func() (int, error) { return 0, boom }, retry.Database().Options(nil)...)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Retry after its context ended = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 30*time.Second {
			t.Errorf("Retry returned %v after start, want at the deadline (30s)", d)
		}
	})
}

// TestBoundedPolicyGivesUp checks that a policy with Tries returns the last
// error after that many attempts, having told notify before each wait.
func TestBoundedPolicyGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := retry.LogSetup()
		boom := errors.New("no leader")
		tries, notified := 0, 0
		var waited time.Duration
		start := time.Now()
		_, err := backoff.Retry(t.Context(), func() (struct{}, error) { tries++; return struct{}{}, boom },
			p.Options(func(err error, wait time.Duration) {
				if !errors.Is(err, boom) {
					t.Errorf("notify got %v, want %v", err, boom)
				}
				notified++
				waited += wait
			})...)
		if !errors.Is(err, boom) || tries != int(p.Tries) || notified != int(p.Tries)-1 {
			t.Errorf("Retry = %v after %d tries, %d notifications; want %v after %d and %d", err, tries, notified, boom, p.Tries, p.Tries-1)
		}
		if d := time.Since(start); d != waited {
			t.Errorf("Retry took %v, want the sum of the notified waits (%v)", d, waited)
		}
	})
}
