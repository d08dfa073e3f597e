package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/market"
)

// logPrices returns the prices of the first n messages of the log, one
// slice per message.
func logPrices(t *testing.T, b *bus.Bus, n int) [][]float64 {
	t.Helper()
	var got [][]float64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop := errors.New("stop")
	err := b.Consume(ctx, 1, func(_ uint64, ticks []market.Tick) error {
		var m []float64
		for _, tk := range ticks {
			m = append(m, tk.Price)
		}
		got = append(got, m)
		if len(got) == n {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("consume: %v after %v", err, got)
	}
	return got
}

// publishAsync starts a publish of one AAPL tick at price and waits until
// the open shared append has want publishes (it joined).
func publishAsync(t *testing.T, ctx context.Context, p *ingest.Publisher, price float64, want int) chan error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- p.Publish(ctx, []market.Tick{{Symbol: "AAPL", TS: ts0, Price: price}}) }()
	deadline := time.Now().Add(10 * time.Second)
	for p.SharedForTest() != want {
		if time.Now().After(deadline) {
			t.Fatalf("publish at %v did not join the shared append (%d joined, want %d)", price, p.SharedForTest(), want)
		}
		time.Sleep(time.Millisecond)
	}
	return ch
}

// TestPublishWithdrawnNotAppended: a publish whose ctx ends while its shared
// append still waits for a slot gets ErrUnavailable and its ticks never
// reach the log, while the others' in the same append do.
func TestPublishWithdrawnNotAppended(t *testing.T) {
	b := openBus(t)
	log := &gatedLog{Log: b, entered: make(chan struct{}, 1), release: make(chan struct{})}
	p := ingest.NewPublisher(log, ingest.Config{MaxInFlight: 1, Timeout: 20 * time.Second}, discard(), nil)
	first, _ := joinBehindFirst(t, p, log, 0)
	xctx, cancelX := context.WithCancel(context.Background())
	x := publishAsync(t, xctx, p, 7, 1) // opens (leads) the shared append
	y := publishAsync(t, context.Background(), p, 8, 2)
	cancelX()
	if err := <-x; !errors.Is(err, market.ErrUnavailable) {
		t.Fatalf("cancelled publish = %v, want ErrUnavailable", err)
	}
	close(log.release)
	for i, ch := range []chan error{first, y} {
		if err := <-ch; err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if diff := cmp.Diff([][]float64{{100}, {8}}, logPrices(t, b, 2)); diff != "" {
		t.Errorf("log messages' prices (-want +got); the withdrawn 7 must not be there:\n%s", diff)
	}
}

// TestPublishRetryAfterWithdrawNotDuplicated: the reviewer's repro. A POST
// waiting for a shared append is cancelled (503); the client retries the
// same tick, which joins while the append still waits. The log must hold
// the tick once.
func TestPublishRetryAfterWithdrawNotDuplicated(t *testing.T) {
	b := openBus(t)
	log := &gatedLog{Log: b, entered: make(chan struct{}, 1), release: make(chan struct{})}
	p := ingest.NewPublisher(log, ingest.Config{MaxInFlight: 1, Timeout: 20 * time.Second}, discard(), nil)
	first, _ := joinBehindFirst(t, p, log, 0)
	xctx, cancelX := context.WithCancel(context.Background())
	x := publishAsync(t, xctx, p, 7, 1)
	cancelX()
	if err := <-x; !errors.Is(err, market.ErrUnavailable) {
		t.Fatalf("cancelled publish = %v, want ErrUnavailable", err)
	}
	retry := publishAsync(t, context.Background(), p, 7, 1)
	close(log.release)
	for i, ch := range []chan error{first, retry} {
		if err := <-ch; err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if diff := cmp.Diff([][]float64{{100}, {7}}, logPrices(t, b, 2)); diff != "" {
		t.Errorf("log messages' prices (-want +got); the tick must be there once:\n%s", diff)
	}
}

// hookLog is the real log whose first append waits until released and whose
// second calls during before appending.
type hookLog struct {
	ingest.Log
	entered, release chan struct{}
	during           func()
	calls            int // touched only by the append in flight (MaxInFlight 1)
}

func (l *hookLog) Append(ctx context.Context, ticks []market.Tick) error {
	l.calls++
	switch l.calls {
	case 1:
		l.entered <- struct{}{}
		<-l.release
	case 2:
		l.during()
	}
	return l.Log.Append(ctx, ticks)
}

// TestPublishCancelledDuringAppendGetsOutcome: a publish whose ctx ends once
// its ticks are being appended does not answer ErrUnavailable for ticks the
// log then stores: it waits for the append and returns its outcome.
func TestPublishCancelledDuringAppendGetsOutcome(t *testing.T) {
	b := openBus(t)
	xctx, cancelX := context.WithCancel(context.Background())
	xdone := make(chan struct{}) // closed when the publish has returned
	var xerr error
	log := &hookLog{Log: b, entered: make(chan struct{}, 1), release: make(chan struct{})}
	log.during = func() {
		cancelX()
		// Give a publish that wrongly answers now the time to do it; the
		// fixed one waits for this append, so this wait is the test's cost.
		select {
		case <-xdone:
		case <-time.After(200 * time.Millisecond):
		}
	}
	p := ingest.NewPublisher(log, ingest.Config{MaxInFlight: 1, Timeout: 20 * time.Second}, discard(), nil)
	first := make(chan error, 1)
	go func() { first <- p.Publish(context.Background(), []market.Tick{{Symbol: "AAPL", TS: ts0, Price: 100}}) }()
	<-log.entered
	x := publishAsync(t, xctx, p, 7, 1)
	go func() { xerr = <-x; close(xdone) }()
	close(log.release)
	if err := <-first; err != nil {
		t.Fatalf("first publish: %v", err)
	}
	<-xdone
	if xerr != nil {
		t.Fatalf("publish whose ticks were stored = %v, want nil", xerr)
	}
	if diff := cmp.Diff([][]float64{{100}, {7}}, logPrices(t, b, 2)); diff != "" {
		t.Errorf("log messages' prices (-want +got):\n%s", diff)
	}
}

// TestPublishShortDeadlineDoesNotFailOthers: a shared append is bounded by
// the latest deadline of its publishers, not the earliest — else one
// publisher's short deadline failed the append for all of them after the
// log could already hold their ticks (a reviewer's repro: X with 400 ms
// left, Y with 20 s, both answered 503 while the log held [7 8]).
func TestPublishShortDeadlineDoesNotFailOthers(t *testing.T) {
	b := openBus(t)
	xctx, cancelX := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelX()
	log := &hookLog{Log: b, entered: make(chan struct{}, 1), release: make(chan struct{})}
	// The shared append starts only once X's deadline has passed, as when
	// the log is slow: with the earliest deadline it had no time at all.
	log.during = func() { <-xctx.Done() }
	p := ingest.NewPublisher(log, ingest.Config{MaxInFlight: 1, Timeout: 20 * time.Second}, discard(), nil)
	first := make(chan error, 1)
	go func() { first <- p.Publish(context.Background(), []market.Tick{{Symbol: "AAPL", TS: ts0, Price: 100}}) }()
	<-log.entered
	x := publishAsync(t, xctx, p, 7, 1)
	y := publishAsync(t, context.Background(), p, 8, 2)
	close(log.release)
	for i, ch := range []chan error{first, x, y} {
		if err := <-ch; err != nil {
			t.Fatalf("publish %d = %v, want nil (its ticks are stored)", i, err)
		}
	}
	if diff := cmp.Diff([][]float64{{100}, {7, 8}}, logPrices(t, b, 2)); diff != "" {
		t.Errorf("log messages' prices (-want +got):\n%s", diff)
	}
}
