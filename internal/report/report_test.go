package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/objstore"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/report/pdf"
	"github.com/findash/findash/internal/store/sqlite"
)

// noQueue stands in for the job queue: tests call BuildReport themselves.
type noQueue struct{}

func (noQueue) EnqueueReport(context.Context, int64, market.Positions) error { return nil }

const t0 = int64(1_764_244_800_000) // 2025-11-27 12:00 UTC

// fixture is a migrated SQLite store in t.TempDir() holding a user and
// candles, a local object store, and a Service over both.
type fixture struct {
	db   *sqlite.DB
	objs *objstore.Local
	svc  *report.Service
	user int64
	now  time.Time
}

// newFixture stores n 1m candles of each symbol in counts (symbol → n).
func newFixture(t testing.TB, counts map[string]int) *fixture {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "findash.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUser(ctx, auth.User{Email: "r@example.com", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var cs []market.Candle
	for sym, n := range counts {
		cs = append(cs, candles(sym, n)...)
	}
	if len(cs) > 0 {
		if err := db.WriteBatch(ctx, market.Unpartitioned, nil, cs, 0, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := objstore.NewLocal(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, objs: objs, user: u.ID, now: time.UnixMilli(t0)}
	f.svc = report.NewService(db, objs, noQueue{}, report.Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"),
		URLTTL: time.Minute, Now: func() time.Time { return f.now }, PDF: pdf.New(pdf.Config{})}, nil)
	return f
}

// base is where the stored candles start: three days before the build
// time (t0), so they are all closed when a report is built.
const base = t0 - 3*24*3600*1000

// candles returns n consecutive 1m candles of sym from base, with prices
// that wander so bodies go both ways.
func candles(sym string, n int) []market.Candle {
	cs := make([]market.Candle, n)
	for i := range cs {
		o := 100 + float64(i%17) - float64(i%5)
		c := o + float64(i%3) - 1
		cs[i] = market.Candle{Symbol: sym, Interval: market.Interval1m, Start: base + int64(i)*60_000,
			Open: o, High: max(o, c) + 0.5, Low: min(o, c) - 0.25, Close: c, Volume: float64(i%7) + 0.5, Count: int64(i%4 + 1)}
	}
	return cs
}

// build creates a report and builds it as the job would, then downloads
// it through its signed URL.
func (f *fixture) build(t *testing.T, format report.Format, symbols ...string) []byte {
	t.Helper()
	ctx := t.Context()
	r, err := f.svc.Create(ctx, report.Report{UserID: f.user, Symbols: symbols, Interval: market.Interval1m,
		From: base, To: t0 + 10_000*60_000, Format: format})
	if err != nil {
		t.Fatalf("Create(%s) error: %v", format, err)
	}
	if err := f.svc.BuildReport(ctx, r.ID, nil, false); err != nil {
		t.Fatalf("BuildReport(%s) error: %v", format, err)
	}
	r, err = f.svc.Get(ctx, f.user, r.ID)
	if err != nil || r.Status != report.Done {
		t.Fatalf("Get() = %+v, %v; want done", r, err)
	}
	u, _ := f.svc.DownloadURL(r)
	rc, _, err := f.open(ctx, u)
	if err != nil {
		t.Fatalf("Open(DownloadURL) error: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != r.Size {
		t.Fatalf("report size = %d, object holds %d bytes", r.Size, len(b))
	}
	return b
}

// open opens a download URL (path?expires=&sig=) as the API does.
func (f *fixture) open(ctx context.Context, u string) (io.ReadCloser, report.Report, error) {
	p, err := url.Parse(u)
	if err != nil {
		return nil, report.Report{}, err
	}
	id, err := strconv.ParseInt(strings.Split(p.Path, "/")[4], 10, 64)
	if err != nil {
		return nil, report.Report{}, err
	}
	return f.svc.Open(ctx, id, p.Query().Get("expires"), p.Query().Get("sig"))
}

func TestCSVMatchesCandles(t *testing.T) {
	// 2,500 candles: more than one page (market.MaxLimit) of the store.
	f := newFixture(t, map[string]int{"BTC-USD": 2500, "EUR/USD": 3})
	b := f.build(t, report.CSV, "EUR/USD", "BTC-USD", "NONE")
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(report.CSVHeader, rows[0]); diff != "" {
		t.Fatalf("CSV header (-want +got):\n%s", diff)
	}
	var want [][]string
	for _, c := range append(candles("EUR/USD", 3), candles("BTC-USD", 2500)...) {
		// Prices with the symbol's precision (2 decimals: the lows end in .25).
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
		want = append(want, []string{c.Symbol, "1m", time.UnixMilli(c.Start).UTC().Format("2006-01-02T15:04:05Z"),
			f(c.Open), f(c.High), f(c.Low), f(c.Close), strconv.FormatFloat(c.Volume, 'f', -1, 64), strconv.FormatInt(c.Count, 10)})
	}
	if diff := cmp.Diff(want, rows[1:]); diff != "" {
		t.Fatalf("CSV rows (-want +got):\n%s", diff)
	}
}

// TestPDFWithoutRenderer: a process whose Service has no PDF renderer
// fails a PDF report permanently, with a reason for the user, rather than
// retrying it.
func TestPDFWithoutRenderer(t *testing.T) {
	f := newFixture(t, map[string]int{"AAPL": 2})
	f.svc = report.NewService(f.db, f.objs, noQueue{}, report.Config{SigningKey: []byte("0123456789abcdef0123456789abcdef")}, nil)
	ctx := t.Context()
	r, err := f.svc.Create(ctx, report.Report{UserID: f.user, Symbols: []string{"AAPL"}, Interval: market.Interval1m, From: t0, To: t0 + 60_000, Format: report.PDF})
	if err != nil {
		t.Fatal(err)
	}
	err = f.svc.BuildReport(ctx, r.ID, nil, false)
	var p interface{ Permanent() bool }
	if !errors.As(err, &p) || !p.Permanent() {
		t.Fatalf("BuildReport(PDF, no renderer) error = %v, want a permanent error", err)
	}
	if r, err = f.svc.Get(ctx, f.user, r.ID); err != nil || r.Status != report.Failed || r.Error == "" {
		t.Fatalf("Get() = %+v, %v; want failed with a reason", r, err)
	}
}

func TestDownloadURL(t *testing.T) {
	f := newFixture(t, map[string]int{"AAPL": 2})
	f.build(t, report.CSV, "AAPL")
	ctx := t.Context()
	r, err := f.svc.Get(ctx, f.user, 1)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := f.svc.DownloadURL(r)
	tests := []struct {
		name string
		url  string
		skew time.Duration
	}{
		{"bad sig", strings.Replace(good, "sig=", "sig=0", 1), 0},
		{"other id", strings.Replace(good, "/reports/1/", "/reports/2/", 1), 0},
		{"later expiry", strings.Replace(good, "expires=", "expires=9", 1), 0},
		{"expired", good, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.now = time.UnixMilli(t0).Add(tt.skew)
			defer func() { f.now = time.UnixMilli(t0) }()
			if _, _, err := f.open(ctx, tt.url); !errors.Is(err, market.ErrNotFound) {
				t.Fatalf("Open(%s) error = %v, want ErrNotFound", tt.name, err)
			}
		})
	}
	if _, err := f.svc.Get(ctx, f.user+1, 1); !errors.Is(err, market.ErrNotFound) {
		t.Fatalf("Get(other user) error = %v, want ErrNotFound", err)
	}
}

// TestBuildConcurrently: the job queue builds several reports at once;
// PDF rendering (fonts, charts) must be safe for that (run with -race).
func TestBuildConcurrently(t *testing.T) {
	f := newFixture(t, map[string]int{"BTC-USD": 300, "AAPL": 50})
	f.svc = report.NewService(f.db, f.objs, noQueue{}, report.Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"),
		PDF: pdf.New(pdf.Config{}), MaxRunning: 4}, nil)
	ctx := t.Context()
	var ids []int64
	for i := range 4 {
		format := report.PDF
		if i%2 == 1 {
			format = report.CSV
		}
		r, err := f.svc.Create(ctx, report.Report{UserID: f.user, Symbols: []string{"BTC-USD", "AAPL"}, Interval: market.Interval1m,
			From: base, To: t0 + 1000*60_000, Format: format})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	errs := make(chan error, len(ids))
	for _, id := range ids {
		go func() { errs <- f.svc.BuildReport(ctx, id, nil, false) }()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Errorf("BuildReport() error: %v", err)
		}
	}
	for _, id := range ids {
		if r, err := f.svc.Get(ctx, f.user, id); err != nil || r.Status != report.Done || r.Size == 0 {
			t.Errorf("report %d = %+v, %v; want done", id, r, err)
		}
	}
}

// TestPerUserCaps: a user with MaxQueued reports queued or running gets
// ErrTooMany for one more, others do not; a build beyond the user's
// MaxRunning waits its turn (an error with RetryAfter, the report still
// queued) and goes ahead once a running one is done.
func TestPerUserCaps(t *testing.T) {
	f := newFixture(t, map[string]int{"AAPL": 2})
	f.svc = report.NewService(f.db, f.objs, noQueue{}, report.Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"),
		MaxQueued: 3, MaxRunning: 1, WaitTurn: 7 * time.Second}, nil)
	ctx := t.Context()
	req := func(user int64) report.Report {
		return report.Report{UserID: user, Symbols: []string{"AAPL"}, Interval: market.Interval1m, From: t0, To: t0 + 60_000, Format: report.CSV}
	}
	var ids []int64
	for range 3 {
		r, err := f.svc.Create(ctx, req(f.user))
		if err != nil {
			t.Fatalf("Create() under the cap error: %v", err)
		}
		ids = append(ids, r.ID)
	}
	if _, err := f.svc.Create(ctx, req(f.user)); !errors.Is(err, report.ErrTooMany) {
		t.Fatalf("Create() beyond the cap error = %v, want ErrTooMany", err)
	}
	other, err := f.db.CreateUser(ctx, auth.User{Email: "o@example.com", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(ctx, req(other.ID)); err != nil {
		t.Errorf("Create() of another user error: %v", err)
	}

	// Report 1 is being built (another worker): report 2 waits its turn.
	if ok, err := f.db.StartReport(ctx, ids[0], 1, f.now); err != nil || !ok {
		t.Fatalf("StartReport() = %v, %v", ok, err)
	}
	err = f.svc.BuildReport(ctx, ids[1], nil, false)
	var wait interface {
		RetryAfter() time.Duration
		DeferReason() string
	}
	if !errors.As(err, &wait) || wait.RetryAfter() != 7*time.Second || wait.DeferReason() != "user_cap" {
		t.Fatalf("BuildReport() beyond the running cap error = %v, want one with RetryAfter 7s, DeferReason user_cap", err)
	}
	if r, _ := f.svc.Get(ctx, f.user, ids[1]); r.Status != report.Queued {
		t.Errorf("report waiting its turn is %s, want queued", r.Status)
	}
	if err := f.svc.BuildReport(ctx, ids[0], nil, false); err != nil {
		t.Fatalf("BuildReport() of the running report error: %v", err)
	}
	if err := f.svc.BuildReport(ctx, ids[1], nil, false); err != nil {
		t.Fatalf("BuildReport() once the other is done error: %v", err)
	}
	if r, _ := f.svc.Get(ctx, f.user, ids[1]); r.Status != report.Done {
		t.Errorf("report after its turn is %s, want done", r.Status)
	}
	if _, err := f.svc.Create(ctx, req(f.user)); err != nil {
		t.Errorf("Create() once two are done error: %v", err)
	}
}

// BenchmarkBuild builds a report of one symbol with 10,000 1m candles
// (about a week) from SQLite into a local object store.
func BenchmarkBuild(b *testing.B) {
	for _, format := range []report.Format{report.CSV, report.PDF} {
		b.Run(string(format), func(b *testing.B) {
			f := newFixture(b, map[string]int{"BTC-USD": 10_000})
			ctx := b.Context()
			var size int64
			for b.Loop() {
				r, err := f.svc.Create(ctx, report.Report{UserID: f.user, Symbols: []string{"BTC-USD"}, Interval: market.Interval1m,
					From: base, To: t0 + 10_000*60_000, Format: format})
				if err != nil {
					b.Fatal(err)
				}
				if err := f.svc.BuildReport(ctx, r.ID, nil, false); err != nil {
					b.Fatal(err)
				}
				r, _ = f.svc.Get(ctx, f.user, r.ID)
				size = r.Size
			}
			b.ReportMetric(float64(size), "bytes/report")
		})
	}
}
