package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

// notifier records calls and fails as told.
type notifier struct {
	mu    sync.Mutex
	calls map[string]int // "email/1", "webhook/1"
	fail  func(kind string, id int64, call int) error
}

func (n *notifier) do(kind string, id int64) error {
	n.mu.Lock()
	key := kind + "/" + string(rune('0'+id))
	n.calls[key]++
	c := n.calls[key]
	n.mu.Unlock()
	if n.fail != nil {
		return n.fail(kind, id, c)
	}
	return nil
}

func (n *notifier) EmailAlert(_ context.Context, id int64) error   { return n.do("email", id) }
func (n *notifier) WebhookAlert(_ context.Context, id int64) error { return n.do("webhook", id) }

func (n *notifier) count(key string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[key]
}

type permErr struct{}

func (permErr) Error() string   { return "refused" }
func (permErr) Permanent() bool { return true }

// openQueue opens a job queue on a SQLite file in dir.
func openQueue(t *testing.T, dir string, h jobs.Handlers) *jobs.Queue {
	t.Helper()
	q, _ := openQueueConfig(t, dir, h, testConfig())
	return q
}

// openQueueConfig opens a job queue with cfg on a SQLite file in dir and
// returns it with its database.
func openQueueConfig(t *testing.T, dir string, h jobs.Handlers, cfg jobs.Config) (*jobs.Queue, *sql.DB) {
	t.Helper()
	db, err := sqlite.OpenJobsDB(t.Context(), filepath.Join(dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := jobs.New(t.Context(), riversqlite.New(db), h, cfg, nil, nil)
	if err != nil {
		t.Fatalf("jobs.New() error: %v", err)
	}
	return q, db
}

// testConfig is the Config of every test queue: quick retries and polls.
func testConfig() jobs.Config {
	return jobs.Config{
		MaxAttempts: 3, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, StatsInterval: 50 * time.Millisecond, StopTimeout: 2 * time.Second,
	}
}

func runQueue(t *testing.T, q *jobs.Queue) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() error: %v", err)
		}
	}
}

func TestQueue(t *testing.T) {
	dir := t.TempDir()
	testQueue(t, func(t *testing.T, h jobs.Handlers) *jobs.Queue { return openQueue(t, dir, h) })
}

// testQueue is the queue's core behaviour on any driver: enqueue, unique
// per event, retry, discard after the last attempt, cancel on a permanent
// error, and jobs surviving a reopen. open must open a Queue on the same
// database every time it is called.
func testQueue(t *testing.T, open func(t *testing.T, h jobs.Handlers) *jobs.Queue) {
	n := &notifier{calls: map[string]int{}, fail: func(kind string, id int64, call int) error {
		switch {
		case id == 2 && kind == "email" && call < 3:
			return errors.New("smtp down")
		case id == 3:
			return errors.New("always down")
		case id == 4:
			return permErr{}
		}
		return nil
	}}
	q := open(t, jobs.Handlers{Notifier: n})
	ctx := t.Context()
	both := []string{alert.ChannelEmail, alert.ChannelWebhook}
	// The same event enqueued twice (a re-dispatch after a crash): one job per channel.
	for range 2 {
		if err := q.EnqueueAlert(ctx, alert.Event{ID: 1, Notify: both}); err != nil {
			t.Fatalf("EnqueueAlert(1) error: %v", err)
		}
	}
	for _, id := range []int64{2, 3, 4} {
		if err := q.EnqueueAlert(ctx, alert.Event{ID: id, Notify: []string{alert.ChannelEmail}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.EnqueueAlert(ctx, alert.Event{ID: 5, Notify: []string{}}); err != nil {
		t.Fatal(err)
	}
	stop := runQueue(t, q)
	// River records a job's outcome in its database after the handler
	// returns, batched and in its own time: no event to wait on.
	testenv.Eventually(t, 20*time.Second, func() bool {
		js, err := q.Jobs(ctx, 100, "completed", "discarded", "cancelled")
		return err == nil && len(js) == 5
	}, "every job to settle")
	stop()

	for key, want := range map[string]int{"email/1": 1, "webhook/1": 1, "email/2": 3, "email/3": 3, "email/4": 1, "webhook/2": 0} {
		if got := n.count(key); got != want {
			t.Errorf("%s handled %d times, want %d", key, got, want)
		}
	}
	states := map[string]string{}
	all, err := q.Jobs(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range all {
		states[j.Kind+j.Args] = j.State
	}
	want := map[string]string{
		`send_email{"event_id":1}`:      "completed",
		`deliver_webhook{"event_id":1}`: "completed",
		`send_email{"event_id":2}`:      "completed",
		`send_email{"event_id":3}`:      "discarded",
		`send_email{"event_id":4}`:      "cancelled",
	}
	for k, w := range want {
		if states[k] != w {
			t.Errorf("job %s state = %q, want %q (all: %v)", k, states[k], w, states)
		}
	}

	// Jobs survive a restart, and uniqueness still holds against finished jobs.
	q2 := open(t, jobs.Handlers{Notifier: n})
	if err := q2.EnqueueAlert(ctx, alert.Event{ID: 1, Notify: both}); err != nil {
		t.Fatal(err)
	}
	if all2, _ := q2.Jobs(ctx, 100); len(all2) != len(all) {
		t.Errorf("after re-enqueueing a done event: %d jobs, want %d", len(all2), len(all))
	}
}

// blockingNotifier's EmailAlert hands its context to started, then waits
// for release.
type blockingNotifier struct {
	started chan context.Context
	release chan struct{}
}

func (n *blockingNotifier) EmailAlert(ctx context.Context, _ int64) error {
	n.started <- ctx
	<-n.release
	return ctx.Err()
}

func (n *blockingNotifier) WebhookAlert(context.Context, int64) error { return nil }

// TestStopLetsRunningJobsFinish checks that ending Run's context is a
// graceful stop: a running job keeps its context and completes (River
// cancels the jobs of a client whose Start context ends, so a mail accepted
// by the server could be recorded as failed and sent again).
func TestStopLetsRunningJobsFinish(t *testing.T) {
	n := &blockingNotifier{started: make(chan context.Context, 1), release: make(chan struct{})}
	q := openQueue(t, t.TempDir(), jobs.Handlers{Notifier: n})
	if err := q.EnqueueAlert(t.Context(), alert.Event{ID: 1, Notify: []string{alert.ChannelEmail}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var jobCtx context.Context
	select {
	case jobCtx = <-n.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not start within 20s")
	}
	cancel()
	if err := jobCtx.Err(); err != nil {
		t.Errorf("the running job's context ended with Run's: %v", err)
	}
	close(n.release)
	if err := <-done; err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	js, err := q.Jobs(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || js[0].State != "completed" {
		t.Errorf("jobs after the stop = %+v, want the one completed", js)
	}
}

// TestQueueOneProcess runs the core behaviour with Config.OneProcess, as
// stage 1 runs its SQLite queue: retries and restarts without River's
// notifier.
func TestQueueOneProcess(t *testing.T) {
	dir := t.TempDir()
	testQueue(t, func(t *testing.T, h jobs.Handlers) *jobs.Queue {
		cfg := testConfig()
		cfg.OneProcess = true
		q, _ := openQueueConfig(t, dir, h, cfg)
		return q
	})
}

// TestOneProcessWakesOnInsert: with Config.OneProcess and a poll interval
// of an hour, jobs inserted by the running process still start at once
// (River's own trigger, not a poll), and River writes no notifications to
// its table (whose 50 ms reads were the cost OneProcess removes).
func TestOneProcessWakesOnInsert(t *testing.T) {
	cfg := testConfig()
	cfg.PollInterval = time.Hour
	cfg.OneProcess = true
	n := &notifier{calls: map[string]int{}}
	q, db := openQueueConfig(t, t.TempDir(), jobs.Handlers{Notifier: n}, cfg)
	stop := runQueue(t, q)
	defer stop()
	ctx := t.Context()
	for id := int64(1); id <= 3; id++ {
		if err := q.EnqueueAlert(ctx, alert.Event{ID: id, Notify: []string{alert.ChannelEmail}}); err != nil {
			t.Fatal(err)
		}
		key := "email/" + string(rune('0'+id))
		testenv.Eventually(t, 10*time.Second, func() bool { return n.count(key) == 1 }, "job "+key+" to run")
	}
	var rows int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM river_notification").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("river_notification holds %d rows, want 0 (River notified a listener)", rows)
	}
}
