package alert_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

// behindStore is a real store whose every commit finds it behind, as a
// store whose reads and commits reach two servers in a messy failover
// would; passes counts the positions read (one per pass of Run).
type behindStore struct {
	*sqlite.DB
	passes atomic.Int64
}

func (s *behindStore) AlertPosition(ctx context.Context, part int) (uint64, error) {
	s.passes.Add(1)
	return s.DB.AlertPosition(ctx, part)
}

func (s *behindStore) CommitAlerts(context.Context, int, uint64, uint64, []alert.Event, []alert.ArmedChange) ([]alert.Event, []alert.Event, bool, error) {
	return nil, nil, false, fmt.Errorf("commit: %w", market.ErrBehind)
}

// TestRewindsBackOff: Run waits on its clock between rewinds, longer after
// each pass that committed nothing. Before, it started the next pass at
// once (each one reloading every persisted candle and alert), spinning
// against such a store (REVIEW-1 finding 7).
func TestRewindsBackOff(t *testing.T) {
	e := newEnv(t)
	e.prices(99)
	s := &behindStore{DB: e.db}
	waits := make(chan time.Duration, 16)
	tick := make(chan time.Time)
	cfg := alert.Config{FlushInterval: time.Nanosecond, SweepEvery: time.Hour,
		Ticker: func(d time.Duration) (<-chan time.Time, func()) {
			if d == time.Hour {
				return make(chan time.Time), func() {} // the outbox sweep: never
			}
			waits <- d
			return tick, func() {}
		}}
	ev := alert.NewEvaluator(e.log, e.db, s, nil, nil, cfg, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ev.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() error: %v", err)
		}
	}()

	var prev time.Duration
	for pass := int64(1); pass <= 3; pass++ {
		select {
		case d := <-waits:
			if d <= prev || d > 5*time.Second+time.Second {
				t.Errorf("wait after pass %d = %v, want more than %v (the previous), at most about 5 s", pass, d, prev)
			}
			prev = d
		case <-time.After(10 * time.Second):
			t.Fatalf("no wait after pass %d within 10 s; %d passes made", pass, s.passes.Load())
		}
		if n := s.passes.Load(); n != pass {
			t.Fatalf("%d passes made while waiting after pass %d", n, pass)
		}
		tick <- time.Now()
	}
}

// trimmedLog is a log that no longer holds the messages at or below trim
// (--stream-max-age removed them).
type trimmedLog struct {
	alert.Log
	trim uint64
}

func (l trimmedLog) Consume(ctx context.Context, from uint64, fn func(uint64, []market.Tick) error) error {
	return l.Log.Consume(ctx, max(from, l.trim+1), fn)
}

// TestWarnsOfTrimmedLog: the log no longer holds messages after the stored
// position; the evaluator says so, as the persister does, instead of
// losing their firings without a line (REVIEW-1 finding 7).
func TestWarnsOfTrimmedLog(t *testing.T) {
	e := newEnv(t)
	stop, _ := e.evaluator(e.db, nil)
	stored := e.prices(99)
	e.waitPosition(e.db, stored)
	stop()
	e.prices(100, 101)
	last := e.prices(102)

	logs := &testenv.SyncBuffer{}
	ev := alert.NewEvaluator(trimmedLog{&watchedLog{Log: e.log, handled: e.handled}, stored + 2}, e.db, e.db, nil, nil, alert.Config{FlushInterval: time.Nanosecond},
		slog.New(slog.NewTextHandler(logs, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ev.Run(ctx) }()
	e.waitPosition(e.db, last)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() error: %v", err)
	}
	want := fmt.Sprintf("component=alerts from=%d to=%d", stored+1, stored+2)
	if !strings.Contains(logs.String(), "the log no longer holds messages that were never evaluated for alerts\" "+want) {
		t.Errorf("no warning of the trimmed log (want %s); log:\n%s", want, logs.String())
	}
}
