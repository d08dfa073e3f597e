package report_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

// laterQueue lets the Service enqueue on a queue that needs the Service as
// its handler, as cmd/findash wires them.
type laterQueue struct{ q *jobs.Queue }

func (l *laterQueue) EnqueueReport(ctx context.Context, id int64, wait market.Positions) error {
	return l.q.EnqueueReport(ctx, id, wait)
}

// noSink is a live.Sink with no WebSocket behind it.
type noSink struct{}

func (noSink) Publish([]market.Tick, *market.Update) {}
func (noSink) SetFloor(uint64)                       {}

// polledStore is the store, telling the test when a build first reads its
// persister positions.
type polledStore struct {
	*sqlite.DB
	once   sync.Once
	polled chan struct{}
}

func (p *polledStore) LogPosition(ctx context.Context, part int) (uint64, error) {
	p.once.Do(func() { close(p.polled) })
	return p.DB.LogPosition(ctx, part)
}

// TestReportThroughRiverHoldsAcceptedTicks runs stage 1's pieces for real:
// the event log (embedded NATS), the live feed, the persister, the SQLite
// store and River on SQLite's jobs.db (one process). Ticks are accepted
// into the log and applied by the live feed (GET /candles would show
// them), a report is requested at once while the persister has written
// none of them, and the persister starts only after the build's first
// attempt was deferred. The live state's position goes through River in
// ReportArgs.Wait (JSON) to the build, which gives its worker back
// (snoozed) and, run again, builds once the store holds the ticks: the CSV
// has their three candles. With Wait lost on the way the report is built
// at once from the empty store.
func TestReportThroughRiverHoldsAcceptedTicks(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	b, err := bus.Open(ctx, bus.Config{DataDir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	f := newFixture(t, nil)
	feed := live.New(b, f.db, market.NewState(), noSink{}, live.Config{}, quiet, nil)
	store := &polledStore{DB: f.db, polled: make(chan struct{})}
	q := &laterQueue{}
	f.svc = report.NewService(f.db, f.objs, q, report.Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"),
		Applied: feed, Persisted: store, StoreWaitHold: 100 * time.Millisecond}, quiet)
	jdb, err := sqlite.OpenJobsDB(ctx, filepath.Join(dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jdb.Close() })
	reg := prometheus.NewRegistry()
	q.q, err = jobs.New(ctx, riversqlite.New(jdb), jobs.Handlers{Reports: f.svc},
		jobs.Config{OneProcess: true, PollInterval: 100 * time.Millisecond}, quiet, reg)
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, r interface{ Run(context.Context) error }) {
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s Run() error: %v", name, err)
			}
		})
	}
	run("live feed", feed)
	run("job queue", q.q)
	select {
	case <-feed.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("the live feed was not ready after 30s")
	}

	// Three closed minutes of AAA, accepted and applied by the live state.
	minute := time.Now().Truncate(time.Minute).Add(-5 * time.Minute).UnixMilli()
	for i := range int64(3) {
		if err := b.Append(ctx, []market.Tick{{Symbol: "AAA", TS: minute + i*60_000, Price: 10 + float64(i), Size: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		return feed.Applied([]string{"AAA"})[market.Unpartitioned] == 3
	}, "the live feed applied the three messages")

	r, err := f.svc.Create(ctx, report.Report{UserID: f.user, Symbols: []string{"AAA"}, Interval: market.Interval1m,
		From: minute - 60_000, To: time.Now().UnixMilli(), Format: report.CSV})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-store.polled:
		testenv.Eventually(t, 30*time.Second, func() bool { return deferred(t, reg) > 0 },
			"the build deferred while the store was behind")
	case <-time.After(30 * time.Second):
		t.Error("the build never read the store's position: the live state's position did not reach it")
	}
	if got, err := f.svc.Get(ctx, f.user, r.ID); err != nil || got.Status == report.Done {
		t.Fatalf("Get() before the persister ran = %+v, %v; want not done", got, err)
	}
	run("persister", persist.New(b, f.db, persist.Config{}, quiet, nil))

	testenv.Eventually(t, 30*time.Second, func() bool {
		got, err := f.svc.Get(ctx, f.user, r.ID)
		return err == nil && (got.Status == report.Done || got.Status == report.Failed)
	}, "the report built")
	rows := reportRows(t, f, r.ID)
	if len(rows) != 1+3 {
		t.Fatalf("report has %d rows, want the header and the 3 candles the live state had applied: %q", len(rows), rows)
	}
	for i, row := range rows[1:] {
		if want := report.FormatPrice(10+float64(i), 0); row[6] != want {
			t.Errorf("candle %d closes at %s, want %s", i, row[6], want)
		}
	}
}

// deferred is findash_jobs_total{kind="build_report",outcome="deferred"}.
func deferred(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "findash_jobs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == jobs.KindBuildReport && labels["outcome"] == "deferred" {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
