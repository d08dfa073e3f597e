package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
)

// testReportCaps: CreateReport refuses a user's report beyond maxActive
// queued or running (report.ErrTooMany), other users are not affected, a
// done report frees a place; StartReport starts at most maxRunning of one
// user's reports, counts a report already running (a retried build) as its
// own, and is atomic under concurrent calls.
func testReportCaps(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann, bob := userOf(t, s, "ann@example.com"), userOf(t, s, "bob@example.com")
	create := func(user int64, maxActive int) (report.Report, error) {
		return s.CreateReport(ctx, report.Report{UserID: user, Symbols: []string{"AAA"}, Interval: market.Interval1m,
			From: day0, To: day0, Format: report.CSV, CreatedAt: created}, maxActive)
	}
	var ids []int64
	for range 3 {
		r, err := create(ann, 3)
		if err != nil {
			t.Fatalf("CreateReport() under the cap error: %v", err)
		}
		ids = append(ids, r.ID)
	}
	if _, err := create(ann, 3); !errors.Is(err, report.ErrTooMany) {
		t.Fatalf("CreateReport() beyond the cap error = %v, want ErrTooMany", err)
	}
	if _, err := create(bob, 3); err != nil {
		t.Errorf("CreateReport() of another user error: %v", err)
	}
	if _, err := create(9999, 3); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("CreateReport(unknown user) error = %v, want ErrNotFound", err)
	}

	at := created.Add(time.Minute)
	for i, want := range []bool{true, true, false} {
		got, err := s.StartReport(ctx, ids[i], 2, at)
		if err != nil || got != want {
			t.Errorf("StartReport(#%d, max 2) = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if got, err := s.StartReport(ctx, ids[0], 2, at); err != nil || !got {
		t.Errorf("StartReport() of a report already running (a retry) = %v, %v; want true", got, err)
	}
	r, err := s.Report(ctx, ann, ids[0])
	if err != nil || r.Status != report.Running || !r.UpdatedAt.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("Report() after StartReport = %+v, %v; want running, updated at %v", r, err, at)
	}
	if _, err := s.StartReport(ctx, 9999, 2, at); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("StartReport(missing) error = %v, want ErrNotFound", err)
	}
	// A report done frees a place in both caps.
	if err := s.SetReportStatus(ctx, ids[0], report.Done, "k", 1, "", at); err != nil {
		t.Fatal(err)
	}
	if got, err := s.StartReport(ctx, ids[2], 2, at); err != nil || !got {
		t.Errorf("StartReport() after one finished = %v, %v; want true", got, err)
	}
	if _, err := create(ann, 3); err != nil {
		t.Errorf("CreateReport() after one finished error: %v", err)
	}

	// Concurrent creates for one user: exactly the cap passes.
	carl := userOf(t, s, "carl@example.com")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		made    []int64
		refused int
	)
	for range 10 {
		wg.Go(func() {
			r, err := create(carl, 4)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				made = append(made, r.ID)
			case errors.Is(err, report.ErrTooMany):
				refused++
			default:
				t.Errorf("concurrent CreateReport() error: %v", err)
			}
		})
	}
	wg.Wait()
	if len(made) != 4 || refused != 6 {
		t.Fatalf("10 concurrent creates with a cap of 4: %d created, %d refused; want 4 and 6", len(made), refused)
	}
	// Concurrent starts of that user's reports: exactly the cap starts.
	var started int
	for _, id := range made {
		wg.Go(func() {
			ok, err := s.StartReport(ctx, id, 1, at)
			if err != nil {
				t.Errorf("concurrent StartReport() error: %v", err)
			}
			if ok {
				mu.Lock()
				started++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if started != 1 {
		t.Errorf("4 concurrent starts with a cap of 1: %d started, want 1", started)
	}
}
