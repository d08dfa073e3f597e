package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
)

// queueWait stands in for the job queue, keeping the wait Create records.
type queueWait struct{ wait market.Positions }

func (q *queueWait) EnqueueReport(_ context.Context, _ int64, wait market.Positions) error {
	q.wait = wait
	return nil
}

// appliedAt is a live state that has applied the log up to its position.
type appliedAt market.Positions

func (a appliedAt) Applied([]string) market.Positions { return market.Positions(a) }

// waitFixture is a fixture whose store holds 3 candles of AAA written at
// log position 1, while the live state has applied position 2 (a fourth
// candle the persister has not written yet), and whose Service polls the
// store only when the test sends on tick. maxRunning is
// Config.MaxRunning (0: the default).
func waitFixture(t *testing.T, now func() time.Time, maxRunning ...int) (f *fixture, q *queueWait, polled chan struct{}, tick chan time.Time) {
	f = newFixture(t, map[string]int{"AAA": 3})
	q = &queueWait{}
	polled, tick = make(chan struct{}, 1), make(chan time.Time)
	cfg := report.Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"),
		URLTTL: time.Minute, Now: now, Applied: appliedAt{market.Unpartitioned: 2}, Persisted: f.db,
		After: func(time.Duration) <-chan time.Time {
			select {
			case polled <- struct{}{}:
			default:
			}
			return tick
		}}
	if len(maxRunning) > 0 {
		cfg.MaxRunning = maxRunning[0]
	}
	f.svc = report.NewService(f.db, f.objs, q, cfg, nil)
	return f, q, polled, tick
}

// createAAA requests the CSV report of AAA's 1m candles from base to t0.
func createAAA(t *testing.T, f *fixture) report.Report {
	t.Helper()
	r, err := f.svc.Create(t.Context(), report.Report{UserID: f.user, Symbols: []string{"AAA"}, Interval: market.Interval1m,
		From: base, To: t0, Format: report.CSV})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// stuck bounds each wait of these tests on the build: a build that neither
// returns nor polls fails the test instead of hanging until the package's
// timeout (a reverted bound makes the build poll on).
const stuck = 30 * time.Second

// result is BuildReport's result from built, or a failure after stuck.
func result(t *testing.T, built <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-built:
		return err
	case <-time.After(stuck):
		t.Fatalf("BuildReport() has not returned within %v %s", stuck, what)
		return nil
	}
}

// send hands the build's poll its tick, or fails after stuck.
func send(t *testing.T, tick chan<- time.Time) {
	t.Helper()
	select {
	case tick <- time.Time{}:
	case <-time.After(stuck):
		t.Fatalf("the build did not poll the store within %v", stuck)
	}
}

// A report requested after the live state applied a tick the persister has
// not written yet is built only once the store holds it, and holds it.
func TestBuildWaitsForTheStore(t *testing.T) {
	ctx := t.Context()
	f, q, polled, tick := waitFixture(t, func() time.Time { return time.UnixMilli(t0) })
	r := createAAA(t, f)
	if q.wait[market.Unpartitioned] != 2 {
		t.Fatalf("Create enqueued wait %v, want the live state's position 2", q.wait)
	}
	built := make(chan error, 1)
	go func() { built <- f.svc.BuildReport(ctx, r.ID, q.wait, false) }()
	select {
	case err := <-built:
		t.Fatalf("BuildReport() = %v before the store reached the live state's position", err)
	case <-polled:
	case <-time.After(stuck):
		t.Fatalf("BuildReport() neither returned nor polled the store within %v", stuck)
	}
	if got, err := f.svc.Get(ctx, f.user, r.ID); err != nil || got.Status != report.Queued {
		t.Fatalf("Get() while the store is behind = %+v, %v; want queued (waiting before it runs)", got, err)
	}
	// The persister writes the fourth candle (log message 2).
	c := candles("AAA", 4)[3:]
	if err := f.db.WriteBatch(ctx, market.Unpartitioned, nil, c, 1, 2, 2); err != nil {
		t.Fatal(err)
	}
	send(t, tick)
	if err := result(t, built, "once the store held the tick"); err != nil {
		t.Fatalf("BuildReport() error: %v", err)
	}
	if rows := reportRows(t, f, r.ID); len(rows) != 1+4 {
		t.Fatalf("report has %d rows, want the header and 4 candles: %q", len(rows), rows)
	}
	if n := f.svc.StoreWaitTimeouts(); n != 0 {
		t.Errorf("StoreWaitTimeouts() = %d, want 0", n)
	}
}

// A store that never catches up holds a worker at most
// Config.StoreWaitHold (1s by default) per attempt: then the build is
// deferred (RetryAfter, no attempt spent), the report still queued. The
// 30s of Config.StoreWaitAtMost count from the request: the attempt that
// runs past them builds the report from what the store holds, and counts
// the timeout.
func TestBuildWaitsForTheStoreAtMost(t *testing.T) {
	ctx := t.Context()
	var now atomic.Int64
	now.Store(t0)
	f, q, polled, tick := waitFixture(t, func() time.Time { return time.UnixMilli(now.Load()) })
	r := createAAA(t, f)
	built := make(chan error, 1)
	waitPolled := func(what string) {
		t.Helper()
		select {
		case err := <-built:
			t.Fatalf("BuildReport() = %v %s", err, what)
		case <-polled:
		case <-time.After(stuck):
			t.Fatalf("BuildReport() neither returned nor polled the store within %v %s", stuck, what)
		}
	}
	go func() { built <- f.svc.BuildReport(ctx, r.ID, q.wait, false) }()
	waitPolled("before StoreWaitHold")
	now.Add(999)
	send(t, tick)
	waitPolled("after 0.999s of StoreWaitHold")
	now.Add(1)
	send(t, tick)
	var later interface {
		RetryAfter() time.Duration
		DeferReason() string
	}
	select {
	case err := <-built:
		if !errors.As(err, &later) || later.RetryAfter() != time.Second || later.DeferReason() != "store_behind" {
			t.Fatalf("BuildReport() after StoreWaitHold = %v; want an error with RetryAfter() 1s, DeferReason() store_behind", err)
		}
	case <-polled:
		t.Fatal("BuildReport() still holds its worker after StoreWaitHold")
	case <-time.After(stuck):
		t.Fatalf("BuildReport() neither returned nor polled the store within %v after StoreWaitHold", stuck)
	}
	if got, err := f.svc.Get(ctx, f.user, r.ID); err != nil || got.Status != report.Queued {
		t.Fatalf("Get() after a deferred attempt = %+v, %v; want queued", got, err)
	}

	// A later attempt, 29.5s after the request: it waits what is left.
	now.Store(t0 + 29_500)
	go func() { built <- f.svc.BuildReport(ctx, r.ID, q.wait, false) }()
	waitPolled("before 30s from the request")
	now.Store(t0 + 30_000)
	send(t, tick)
	if err := result(t, built, "with the clock 30s after the request (it must stop waiting)"); err != nil {
		t.Fatalf("BuildReport() 30s after the request error: %v", err)
	}
	if rows := reportRows(t, f, r.ID); len(rows) != 1+3 {
		t.Fatalf("report has %d rows, want the header and the 3 stored candles: %q", len(rows), rows)
	}
	if n := f.svc.StoreWaitTimeouts(); n != 1 {
		t.Errorf("StoreWaitTimeouts() = %d, want 1", n)
	}
}

// A build whose first attempt runs Config.StoreWaitAtMost after the
// request (a queue that was down, or busy) has waited long enough: it is
// built at once from what the store holds. Before, every attempt waited
// its own 30s, inside the job's timeout.
func TestBuildStoreWaitCountsFromTheRequest(t *testing.T) {
	ctx := t.Context()
	var now atomic.Int64
	now.Store(t0)
	f, q, polled, _ := waitFixture(t, func() time.Time { return time.UnixMilli(now.Load()) })
	r := createAAA(t, f)
	now.Store(t0 + 30_000)
	built := make(chan error, 1)
	go func() { built <- f.svc.BuildReport(ctx, r.ID, q.wait, false) }()
	select {
	case err := <-built:
		if err != nil {
			t.Fatalf("BuildReport() error: %v", err)
		}
	case <-polled:
		t.Fatal("BuildReport() 30s after the request waits for the store again")
	case <-time.After(stuck):
		t.Fatalf("BuildReport() has not returned %v 30s after the request", stuck)
	}
	if rows := reportRows(t, f, r.ID); len(rows) != 1+3 {
		t.Fatalf("report has %d rows, want the header and the 3 stored candles: %q", len(rows), rows)
	}
	if n := f.svc.StoreWaitTimeouts(); n != 1 {
		t.Errorf("StoreWaitTimeouts() = %d, want 1", n)
	}
}

// A build past the 30s whose user has all its MaxRunning turns taken is
// deferred by its turn, attempt after attempt: the store wait's timeout is
// counted once, when the build starts, not on every deferred attempt.
// Before, each attempt after the 30s counted it and warned again: a report
// held a minute in its user's queue counted ~12 (REVIEW-A F2).
func TestBuildCountsTheStoreWaitTimeoutOnce(t *testing.T) {
	ctx := t.Context()
	var now atomic.Int64
	now.Store(t0)
	f, q, _, _ := waitFixture(t, func() time.Time { return time.UnixMilli(now.Load()) }, 1)
	req := report.Report{UserID: f.user, Symbols: []string{"AAA"}, Interval: market.Interval1m, From: base, To: t0, Format: report.CSV}
	other, err := f.svc.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.db.StartReport(ctx, other.ID, 1, time.UnixMilli(t0)); err != nil || !ok {
		t.Fatalf("StartReport(other) = %v, %v; want its user's one turn", ok, err)
	}
	now.Store(t0 + 31_000)
	for i := range 3 {
		var turn interface{ RetryAfter() time.Duration }
		if err := f.svc.BuildReport(ctx, r.ID, q.wait, false); !errors.As(err, &turn) {
			t.Fatalf("attempt %d: BuildReport() = %v; want deferred: its user's turn is taken", i+1, err)
		}
		if n := f.svc.StoreWaitTimeouts(); n != 0 {
			t.Fatalf("attempt %d, deferred by its user's turn: StoreWaitTimeouts() = %d, want 0 (the build has not started)", i+1, n)
		}
		now.Add(5_000)
	}
	if err := f.db.SetReportStatus(ctx, other.ID, report.Done, "", 0, "", time.UnixMilli(now.Load())); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.BuildReport(ctx, r.ID, q.wait, false); err != nil {
		t.Fatalf("BuildReport() once the turn is free: %v", err)
	}
	if rows := reportRows(t, f, r.ID); len(rows) != 1+3 {
		t.Fatalf("report has %d rows, want the header and the 3 stored candles: %q", len(rows), rows)
	}
	if n := f.svc.StoreWaitTimeouts(); n != 1 {
		t.Errorf("StoreWaitTimeouts() after the build = %d, want 1", n)
	}
}

// reportRows downloads done report id and parses its CSV.
func reportRows(t *testing.T, f *fixture, id int64) [][]string {
	t.Helper()
	r, err := f.svc.Get(t.Context(), f.user, id)
	if err != nil || r.Status != report.Done {
		t.Fatalf("Get() = %+v, %v; want done", r, err)
	}
	u, _ := f.svc.DownloadURL(r)
	rc, _, err := f.open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
