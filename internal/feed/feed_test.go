package feed_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/feed"
	"github.com/findash/findash/internal/feed/fakeexchange"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retry"
	"github.com/findash/findash/internal/testenv"
)

func discard() *slog.Logger {
	if os.Getenv("FEED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fast reconnects, so that tests wait on events, not on backoff.
var fast = retry.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, Jitter: 0.2}

func openBus(t testing.TB, dir string) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: dir}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b
}

// venueRig is a fake venue on a real HTTP server and a feed's config
// pointing at it.
type venueRig struct {
	fake *fakeexchange.Exchange
	srv  *httptest.Server
	cfg  feed.Config
	reg  *prometheus.Registry
}

func newRig(t *testing.T, fc fakeexchange.Config, symbols ...string) *venueRig {
	t.Helper()
	return newRigTB(t, fakeexchange.New(fc), symbols...)
}

func newRigTB(t testing.TB, fake *fakeexchange.Exchange, symbols ...string) *venueRig {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return &venueRig{
		fake: fake, srv: srv, reg: prometheus.NewRegistry(),
		cfg: feed.Config{
			Symbols: symbols, WSURL: "ws://" + strings.TrimPrefix(srv.URL, "http://"), RESTURL: srv.URL,
			Retry: fast, Silence: 2 * time.Second,
		},
	}
}

// run runs f until the test ends (or stop is called), and returns stop.
func run(t *testing.T, f *feed.Feed) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.Run(ctx); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// stored reads symbol's ticks from the log.
func stored(t *testing.T, b *bus.Bus, symbol string) []market.Tick {
	t.Helper()
	ticks, _, err := b.Ticks(context.Background(), symbol, 0, math.MaxUint64, math.MaxInt32)
	if err != nil {
		t.Fatal(err)
	}
	return ticks
}

// want returns the fake's trades as the ticks the log must hold.
func want(t *testing.T, trades []fakeexchange.Trade, symbol string) []market.Tick {
	t.Helper()
	out := make([]market.Tick, len(trades))
	for i, tr := range trades {
		p, err1 := strconv.ParseFloat(tr.Price, 64)
		s, err2 := strconv.ParseFloat(tr.Size, 64)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		out[i] = market.Tick{Symbol: symbol, TS: tr.Time.UnixMilli(), Price: p, Size: s}
	}
	return out
}

// waitStored waits until the log holds exactly the fake's trades of each
// symbol (venue name → findash name), and fails with the difference if it
// does not within 10 s.
func waitStored(t *testing.T, b *bus.Bus, fake *fakeexchange.Exchange, symbols map[string]string) {
	t.Helper()
	noSeq := cmp.Transformer("noSeq", func(in market.Tick) market.Tick { in.Seq = 0; return in })
	for venueSym, sym := range symbols {
		var diff string
		ok := testenv.WaitFor(10*time.Second, func() bool {
			diff = cmp.Diff(want(t, fake.Trades(venueSym), sym), stored(t, b, sym), noSeq)
			return diff == ""
		})
		if !ok {
			t.Fatalf("%s: stored ticks differ from the venue's trades (-venue +stored):\n%.3000s", sym, diff)
		}
	}
}

// metric returns the value of the counter or gauge name{venue} on reg.
func metric(t *testing.T, reg *prometheus.Registry, name, venue string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "venue" && l.GetValue() == venue {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func waitConns(t *testing.T, fake *fakeexchange.Exchange, accepted int64) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() bool { return fake.Accepted() >= accepted && fake.Conns() == 1 },
		"the feed did not open connection %d (accepted %d, open %d)", accepted, fake.Accepted(), fake.Conns())
}
