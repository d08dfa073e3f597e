package alert_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/notify"
	"github.com/findash/findash/internal/notify/notifytest"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

// sink records what the evaluator pushes to users' WebSockets.
type sink struct {
	mu  sync.Mutex
	got []alert.Event
}

func (s *sink) PublishAlert(userID int64, data any) {
	ev := data.(alert.Event)
	if ev.UserID != userID {
		panic("alert pushed to the wrong user")
	}
	s.mu.Lock()
	s.got = append(s.got, ev)
	s.mu.Unlock()
}

func (s *sink) events() []alert.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]alert.Event(nil), s.got...)
}

const day0 int64 = 1764201600000

type env struct {
	t         *testing.T
	dir       string
	log       *bus.Bus
	db        *sqlite.DB
	smtp      *notifytest.SMTPServer
	hook      *notifytest.Receiver
	queue     *jobs.Queue
	stopQueue func()
	userID    int64
	ts        int64
	handled   chan struct{} // 1-buffered: an evaluator handled a message
}

// watchedLog is the log as one evaluator reads it: it records the last
// message the evaluator has handled (committed, when it fired) and signals
// env.handled.
type watchedLog struct {
	alert.Log
	handled chan struct{}
	mu      sync.Mutex
	seq     uint64
}

func (l *watchedLog) Consume(ctx context.Context, from uint64, fn func(uint64, []market.Tick) error) error {
	return l.Log.Consume(ctx, from, func(seq uint64, ticks []market.Tick) error {
		err := fn(seq, ticks)
		l.mu.Lock()
		l.seq = seq
		l.mu.Unlock()
		select {
		case l.handled <- struct{}{}:
		default: // a signal is pending: the waiter will look anyway
		}
		return err
	})
}

func (l *watchedLog) last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

func openDB(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, dir: t.TempDir(), ts: day0, handled: make(chan struct{}, 1)}
	b, err := bus.Open(t.Context(), bus.Config{DataDir: e.dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("bus.Open() error: %v", err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	e.log = b
	e.db = openDB(t, filepath.Join(e.dir, "findash.db"))
	u, err := e.db.CreateUser(t.Context(), auth.User{Email: "ann@example.com", CreatedAt: time.Now(), EmailVerifiedAt: new(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	e.userID = u.ID
	e.smtp = notifytest.NewSMTPServer(t)
	e.hook = notifytest.NewReceiver(t)
	mailer, err := notify.NewMailer(notify.MailConfig{URL: e.smtp.URL, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := notify.NewService(e.db, mailer, notify.NewWebhooks(notify.WebhookConfig{AllowPrivate: true}, nil, nil), "http://findash.test")
	jdb, err := sqlite.OpenJobsDB(t.Context(), filepath.Join(e.dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jdb.Close() })
	e.queue, err = jobs.New(t.Context(), riversqlite.New(jdb), jobs.Handlers{Notifier: svc},
		jobs.Config{PollInterval: 20 * time.Millisecond, RetryBase: 20 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.queue.Run(ctx) }()
	e.stopQueue = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(e.stopQueue)
	return e
}

// evaluator runs an evaluator on db until the returned stop is called; log
// tells which messages it has handled.
func (e *env) evaluator(db *sqlite.DB, s alert.Sink) (stop func(), log *watchedLog) {
	log = &watchedLog{Log: e.log, handled: e.handled}
	ev := alert.NewEvaluator(log, db, db, s, e.queue, alert.Config{FlushInterval: 10 * time.Millisecond, RefreshInterval: time.Millisecond}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ev.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("evaluator Run() error: %v", err)
		}
	}, log
}

// clockedEvaluator runs an evaluator on e.db until the test ends, with a
// wall clock the test moves by hand (now, in Unix nanoseconds, starting
// at 2026-01-01) and alerts reloaded once a minute of that clock; the log
// tells which messages it has handled.
func (e *env) clockedEvaluator() (now *atomic.Int64, log *watchedLog) {
	now = new(atomic.Int64)
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	log = &watchedLog{Log: e.log, handled: e.handled}
	ev := alert.NewEvaluator(log, e.db, e.db, nil, nil, alert.Config{
		RefreshInterval: time.Minute, FlushInterval: time.Nanosecond,
		Now: func() time.Time { return time.Unix(0, now.Load()) },
	}, nil, nil)
	done := make(chan error, 1)
	go func() { done <- ev.Run(e.t.Context()) }()
	e.t.Cleanup(func() { <-done })
	return now, log
}

// prices appends one tick per price to the log and returns the last stream sequence.
func (e *env) prices(ps ...float64) uint64 {
	e.t.Helper()
	for _, p := range ps {
		e.ts += 1000
		if err := e.log.Append(e.t.Context(), []market.Tick{{Symbol: "BTC-USD", TS: e.ts, Price: p, Size: 1}}); err != nil {
			e.t.Fatal(err)
		}
	}
	last, err := e.log.LastSeq(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return last
}

// waitPosition waits until the stored alert position reaches seq. The
// position moves only while an evaluator handles a message (or in its final
// commit, done when its stop returns), so it looks again after each.
func (e *env) waitPosition(db *sqlite.DB, seq uint64) {
	e.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		pos, err := db.AlertPosition(e.t.Context(), market.Unpartitioned)
		if err == nil && pos >= seq {
			return
		}
		select {
		case <-e.handled:
		case <-deadline:
			e.t.Fatalf("alert position %d, %v after 60s; want %d", pos, err, seq)
		}
	}
}

// waitHandled waits until every evaluator of logs has handled message seq.
func (e *env) waitHandled(seq uint64, logs ...*watchedLog) {
	e.t.Helper()
	deadline := time.After(60 * time.Second)
	for _, l := range logs {
		for l.last() < seq {
			select {
			case <-e.handled:
			case <-deadline:
				e.t.Fatalf("an evaluator handled up to %d after 60s; want %d", l.last(), seq)
			}
		}
	}
}

func (e *env) events() []alert.Event {
	e.t.Helper()
	evs, err := e.db.AlertEvents(e.t.Context(), e.userID, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func TestEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := alert.Alert{UserID: e.userID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
		Notify: []string{"email", "webhook"}, WebhookURL: e.hook.URL, CreatedAt: time.Now(), Hysteresis: 0.1}
	if err := alert.Validate(&a); err != nil {
		t.Fatal(err)
	}
	a, err := e.db.CreateAlert(ctx, a, 10)
	if err != nil {
		t.Fatal(err)
	}
	s1 := &sink{}
	stop, log1 := e.evaluator(e.db, s1)
	// Two crossings: 101 fires; 100.5 and 99.95 stay inside the band; 99 re-arms; 102 fires.
	last := e.prices(99, 101, 100.5, 99.95, 101, 99, 102)
	e.waitHandled(last, log1)
	stop()
	e.waitPosition(e.db, last)

	evs := e.events()
	if len(evs) != 2 || evs[0].Price != 102 || evs[1].Price != 101 {
		t.Fatalf("events = %+v, want two firings at 101 then 102", evs)
	}
	if got := s1.events(); len(got) != 2 || got[0].ID != evs[1].ID || got[1].ID != evs[0].ID {
		t.Errorf("sink got %+v, want the two events once each", got)
	}
	mails := e.smtp.Wait(2, 20*time.Second)
	if len(mails) != 2 || mails[0].To[0] != "ann@example.com" || !strings.Contains(mails[0].Data, "BTC-USD above 100") {
		t.Errorf("mails = %+v, want two alert mails to ann", mails)
	}
	reqs := e.hook.Wait(2, 20*time.Second)
	secret, err := e.db.WebhookSecret(ctx, e.userID, "unused")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	for _, r := range reqs {
		if !notify.Verify(secret, r.Body, r.Header.Get(notify.SignatureHeader)) {
			t.Errorf("webhook %s has a bad signature %q", r.Body, r.Header.Get(notify.SignatureHeader))
		}
		var p notify.WebhookPayload
		if err := json.Unmarshal(r.Body, &p); err != nil || p.Type != "alert" || p.Event.AlertID != a.ID {
			t.Errorf("webhook body %s: %v", r.Body, err)
		}
		seen[p.Event.ID]++
	}
	if len(reqs) != 2 || seen[evs[0].ID] != 1 || seen[evs[1].ID] != 1 {
		t.Errorf("webhooks per event = %v, want one each of %d and %d", seen, evs[0].ID, evs[1].ID)
	}

	// Restart: the same log is not re-fired; a later tick that does not
	// cross fires nothing.
	s2 := &sink{}
	stop, _ = e.evaluator(e.db, s2)
	last = e.prices(103)
	e.waitPosition(e.db, last)
	stop()
	if got := e.events(); len(got) != 2 {
		t.Errorf("after a restart: %d events, want 2", len(got))
	}
	if got := s2.events(); len(got) != 0 {
		t.Errorf("restarted evaluator pushed %+v, want nothing", got)
	}

	// Two evaluators at once (two connections to the same database): each
	// crossing is recorded and pushed once.
	db2 := openDB(t, filepath.Join(e.dir, "findash.db"))
	s3, s4 := &sink{}, &sink{}
	stop3, log3 := e.evaluator(e.db, s3)
	stop4, log4 := e.evaluator(db2, s4)
	last = e.prices(98, 104, 97, 105, 96, 106)
	e.waitHandled(last, log3, log4) // both saw every crossing
	stop3()
	stop4()
	evs = e.events()
	if len(evs) != 5 {
		t.Errorf("after two evaluators: %d events, want 5 (3 new crossings)", len(evs))
	}
	if n := len(s3.events()) + len(s4.events()); n != 3 {
		t.Errorf("two evaluators pushed %d alerts in all, want 3", n)
	}
	if p, err := e.db.PendingEvents(ctx, 10); err != nil || len(p) != 0 {
		t.Errorf("PendingEvents() = %+v, %v; want none left undispatched", p, err)
	}
	if mails := e.smtp.Wait(5, 20*time.Second); len(mails) != 5 {
		t.Errorf("%d mails, want 5", len(mails))
	}
	if reqs := e.hook.Wait(5, 20*time.Second); len(reqs) != 5 {
		t.Errorf("%d webhooks, want 5", len(reqs))
	}
	// Nothing more may arrive: every job (one per event and channel) has
	// completed, and with the queue stopped no other can run.
	want := map[string]int{jobs.KindSendEmail + " completed": 5, jobs.KindDeliverWebhook + " completed": 5}
	var states map[string]int
	if !testenv.WaitFor(60*time.Second, func() bool {
		js, err := e.queue.Jobs(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		states = map[string]int{}
		for _, j := range js {
			states[j.Kind+" "+j.State]++
		}
		return cmp.Equal(want, states)
	}) {
		t.Errorf("jobs by kind and state after 60s (-want +got):\n%s", cmp.Diff(want, states))
	}
	e.stopQueue()
	if n, m := len(e.smtp.Mails()), len(e.hook.Requests()); n != 5 || m != 5 {
		t.Errorf("finally %d mails and %d webhooks, want 5 and 5", n, m)
	}
}
