package report

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/findash/findash/internal/market"
)

// Store keeps reports and reads candles; the SQL stores implement it.
type Store interface {
	// CreateReport stores r as queued unless its user already has
	// maxActive reports queued or running (an error wrapping ErrTooMany);
	// maxActive <= 0 is no cap. The check and the insert are atomic per
	// user.
	CreateReport(ctx context.Context, r Report, maxActive int) (Report, error)
	// StartReport marks report id running at at, unless its user already
	// has maxRunning other reports running: then it changes nothing and
	// returns false. The check and the update are atomic per user. A
	// missing report is market.ErrNotFound.
	StartReport(ctx context.Context, id int64, maxRunning int, at time.Time) (bool, error)
	// Report returns report id, only if userID owns it (userID 0: any).
	Report(ctx context.Context, userID, id int64) (Report, error)
	Reports(ctx context.Context, userID, before int64, limit int) ([]Report, error)
	SetReportStatus(ctx context.Context, id int64, status Status, objectKey string, size int64, msg string, at time.Time) error
	Candles(ctx context.Context, q market.CandleQuery) ([]market.Candle, error)
}

// Objects is object storage (objstore.Local, or S3).
type Objects interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// Enqueuer enqueues a report's build (*jobs.Queue); the build waits until
// the store's log positions reach wait (BuildReport).
type Enqueuer interface {
	EnqueueReport(ctx context.Context, id int64, wait market.Positions) error
}

// Config configures a Service.
type Config struct {
	// SigningKey keys download URL signatures (at least 32 random bytes;
	// the same on every instance serving downloads).
	SigningKey []byte
	// URLTTL is how long a download URL works (default 15m).
	URLTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// PDF renders PDF reports (pdf.New, wired by cmd/findash in the
	// process that builds reports). Nil: a PDF report fails to build,
	// permanently; creating, listing and downloading need none.
	PDF Renderer
	// MaxQueued is how many reports one user may have queued or running
	// (default 20); Create refuses more with ErrTooMany, so one user cannot
	// fill the queue.
	MaxQueued int
	// MaxRunning is how many of one user's reports are built at once
	// (default 2): a build that would exceed it waits WaitTurn and tries
	// again without spending an attempt, so one user's reports never hold
	// every report worker.
	MaxRunning int
	// WaitTurn is how long such a build waits before it looks again
	// (default 5s).
	WaitTurn time.Duration
	// Applied is the live state (*live.Feed) whose applied log positions
	// Create records with the job; nil records none (the build waits for
	// nothing).
	Applied Applied
	// Persisted is the store's persister positions, which a build waits to
	// reach the recorded ones before it reads candles (decision 0057); nil:
	// builds do not wait.
	Persisted Persisted
	// StoreWaitEvery is how often a waiting build reads them (default
	// 50ms). StoreWaitHold is how long one attempt waits, holding its
	// worker, before it gives the worker back and the job is run again
	// StoreWaitHold later, without spending an attempt (default 1s;
	// cmd/findash gives the persister's StoredWithin, its linger
	// included, so a store behind by its usual batch costs no round
	// through the queue, decision 0071). StoreWaitAtMost is how long
	// after the request a build waits in all before it builds anyway
	// (default 30s). After is the timer (default time.After).
	StoreWaitEvery  time.Duration
	StoreWaitHold   time.Duration
	StoreWaitAtMost time.Duration
	After           func(time.Duration) <-chan time.Time
}

// Service creates, lists, builds and serves reports. It is safe for
// concurrent use.
type Service struct {
	store Store
	objs  Objects
	q     Enqueuer
	cfg   Config
	l     *slog.Logger

	storeWaitTimeouts atomic.Uint64
}

// NewService returns a Service. q may be nil in a process that only builds.
func NewService(store Store, objs Objects, q Enqueuer, cfg Config, l *slog.Logger) *Service {
	if cfg.URLTTL <= 0 {
		cfg.URLTTL = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 20
	}
	if cfg.MaxRunning <= 0 {
		cfg.MaxRunning = 2
	}
	if cfg.WaitTurn <= 0 {
		cfg.WaitTurn = 5 * time.Second
	}
	if cfg.StoreWaitEvery <= 0 {
		cfg.StoreWaitEvery = 50 * time.Millisecond
	}
	if cfg.StoreWaitHold <= 0 {
		cfg.StoreWaitHold = time.Second
	}
	if cfg.StoreWaitAtMost <= 0 {
		cfg.StoreWaitAtMost = 30 * time.Second
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, objs: objs, q: q, cfg: cfg, l: l.With("component", "reports")}
}

// Create validates r (UserID, Symbols, Interval, From, To, Format), stores
// it as queued and enqueues its build. A user who already has
// Config.MaxQueued reports queued or running gets an error wrapping
// ErrTooMany. The build will wait for the store to hold every tick of the
// report's symbols the live state (Config.Applied) has applied by now. If
// the enqueue fails the report is marked failed and the error (wrapping
// market.ErrUnavailable) returned.
func (s *Service) Create(ctx context.Context, r Report) (Report, error) {
	if err := Validate(&r); err != nil {
		return Report{}, err
	}
	r.CreatedAt = s.cfg.Now()
	r, err := s.store.CreateReport(ctx, r, s.cfg.MaxQueued)
	if errors.Is(err, ErrTooMany) {
		return Report{}, fmt.Errorf("%w: you may have %d at once; retry when one is done", ErrTooMany, s.cfg.MaxQueued)
	}
	if err != nil {
		return Report{}, err
	}
	var wait market.Positions
	if s.cfg.Applied != nil {
		wait = s.cfg.Applied.Applied(r.Symbols)
	}
	if err := s.q.EnqueueReport(ctx, r.ID, wait); err != nil {
		s.store.SetReportStatus(context.WithoutCancel(ctx), r.ID, Failed, "", 0, "could not be queued", s.cfg.Now())
		return Report{}, fmt.Errorf("enqueue report %d: %w: %w", r.ID, market.ErrUnavailable, err)
	}
	return r, nil
}

// Get returns userID's report id (another user's is market.ErrNotFound).
func (s *Service) Get(ctx context.Context, userID, id int64) (Report, error) {
	if userID <= 0 {
		return Report{}, fmt.Errorf("report %d: %w", id, market.ErrNotFound)
	}
	return s.store.Report(ctx, userID, id)
}

// List returns userID's reports newest first, ids below before (0: all).
func (s *Service) List(ctx context.Context, userID, before int64, limit int) ([]Report, error) {
	return s.store.Reports(ctx, userID, before, limit)
}

func (s *Service) sign(id, expires int64) string {
	m := hmac.New(sha256.New, s.cfg.SigningKey)
	fmt.Fprintf(m, "/api/v1/reports/%d/download\n%d", id, expires)
	return hex.EncodeToString(m.Sum(nil))
}

// DownloadURL returns the signed, expiring download URL (a path with a
// query) of a done report, and when it expires.
func (s *Service) DownloadURL(r Report) (string, time.Time) {
	exp := s.cfg.Now().Add(s.cfg.URLTTL).Truncate(time.Second)
	e := exp.Unix()
	return fmt.Sprintf("/api/v1/reports/%d/download?expires=%d&sig=%s", r.ID, e, s.sign(r.ID, e)), exp
}

// Open checks a download URL's expires and sig for report id and opens the
// file. A bad or expired signature, or a report not done, is
// market.ErrNotFound (nothing is revealed).
func (s *Service) Open(ctx context.Context, id int64, expires, sig string) (io.ReadCloser, Report, error) {
	e, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || !hmac.Equal([]byte(s.sign(id, e)), []byte(sig)) || s.cfg.Now().Unix() > e {
		return nil, Report{}, fmt.Errorf("report download: %w", market.ErrNotFound)
	}
	r, err := s.store.Report(ctx, 0, id)
	if err != nil {
		return nil, Report{}, err
	}
	if r.Status != Done {
		return nil, Report{}, fmt.Errorf("report %d is %s: %w", id, r.Status, market.ErrNotFound)
	}
	rc, err := s.objs.Open(ctx, r.ObjectKey)
	if err != nil {
		return nil, Report{}, err
	}
	return rc, r, nil
}

// BuildReport builds report id (the build_report job) once the store's log
// positions reach wait (those Create recorded; nil: at once). While the
// store is behind it waits at most Config.StoreWaitHold in one call, then
// builds nothing and returns an error whose RetryAfter() says when to look
// again (the job is deferred without spending an attempt and without
// holding a worker); Config.StoreWaitAtMost after the report was requested
// it builds from what the store holds (waitStore). When its user already
// has Config.MaxRunning reports running it builds nothing and returns an
// error whose RetryAfter() is Config.WaitTurn (the job waits its turn the
// same way). On failure it records the report failed when lastAttempt is
// set or the error is permanent, and returns the error (the job retries
// otherwise).
func (s *Service) BuildReport(ctx context.Context, id int64, wait market.Positions, lastAttempt bool) error {
	r, err := s.store.Report(ctx, 0, id)
	if errors.Is(err, market.ErrNotFound) {
		return &permanentError{err}
	} else if err != nil {
		return err
	}
	if r.Status == Done {
		return nil
	}
	// Before StartReport: a build waiting for the store is queued, not
	// running, and takes none of its user's MaxRunning turns.
	timedOut, err := s.waitStore(ctx, r, wait)
	if err != nil {
		var later *storeBehind
		if errors.As(err, &later) {
			return later
		}
		return s.failed(ctx, id, err, lastAttempt)
	}
	started, err := s.store.StartReport(ctx, id, s.cfg.MaxRunning, s.cfg.Now())
	if err != nil {
		return err
	} else if !started {
		return &waitTurn{user: r.UserID, max: s.cfg.MaxRunning, after: s.cfg.WaitTurn}
	}
	if timedOut != nil && r.Status == Queued {
		// Once per report: when its build starts, not on each attempt
		// its user's turns defer, nor on a retry of a started build.
		s.storeWaitTimedOut(r, timedOut)
	}
	key := fmt.Sprintf("reports/%d/%d.%s", r.UserID, r.ID, r.Format)
	bctx := ctx
	if len(wait) > 0 {
		// The wait read the primary's position; a replica may not have
		// replayed what it waited for yet (decision 0057).
		bctx = market.WithPrimaryReads(ctx)
	}
	size, err := s.build(bctx, r, key)
	if err == nil {
		err = s.store.SetReportStatus(ctx, id, Done, key, size, "", s.cfg.Now())
	}
	if err != nil {
		return s.failed(ctx, id, err, lastAttempt)
	}
	s.l.Info("report built", "report_id", id, "user_id", r.UserID, "bytes", size)
	return nil
}

// failed records report id failed when lastAttempt is set or err is
// permanent, and returns err wrapped.
func (s *Service) failed(ctx context.Context, id int64, err error, lastAttempt bool) error {
	var p *permanentError
	if lastAttempt || errors.As(err, &p) {
		msg := "the report could not be built"
		if errors.As(err, &p) {
			msg = p.Error()
		}
		if serr := s.store.SetReportStatus(context.WithoutCancel(ctx), id, Failed, "", 0, msg, s.cfg.Now()); serr != nil {
			s.l.Error("cannot mark report failed", "report_id", id, "err", serr)
		}
	}
	return fmt.Errorf("build report %d: %w", id, err)
}

func (s *Service) build(ctx context.Context, r Report, key string) (int64, error) {
	pages := s.pages(r, s.cfg.Now())
	write := func(ctx context.Context, r Report, w io.Writer) error { return WriteCSV(ctx, r, pages, w) }
	if r.Format == PDF {
		if s.cfg.PDF == nil {
			return 0, &permanentError{errors.New("PDF reports are not built by this process")}
		}
		write = func(ctx context.Context, r Report, w io.Writer) error {
			return s.cfg.PDF.Render(ctx, r, pages, w)
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(ctx, r, pw)) }()
	n, err := s.objs.Put(ctx, key, pr)
	pr.CloseWithError(err) // stops the writer if Put gave up early
	return n, err
}

// CSVHeader is the first row of a CSV report.
var CSVHeader = []string{"symbol", "interval", "start", "open", "high", "low", "close", "volume", "count"}

// WriteCSV writes every candle pages gives for r, symbol by symbol, oldest
// first: start in ISO 8601 UTC (FormatTime), prices with the symbol's
// precision (the most decimals any of its prices in the report needs:
// FormatPrice), volume without float noise (FormatVolume). It reads each
// symbol twice, once for its precision.
func WriteCSV(ctx context.Context, r Report, pages Pages, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	row := make([]string, len(CSVHeader))
	for _, sym := range r.Symbols {
		dec := 0
		err := pages(ctx, sym, func(cs []market.Candle) error {
			for i := range cs {
				dec = max(dec, CandleDecimals(&cs[i]))
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = pages(ctx, sym, func(cs []market.Candle) error {
			for i := range cs {
				c := &cs[i]
				row[0], row[1], row[2] = c.Symbol, c.Interval.String(), FormatTime(c.Start)
				row[3], row[4], row[5], row[6] = FormatPrice(c.Open, dec), FormatPrice(c.High, dec), FormatPrice(c.Low, dec), FormatPrice(c.Close, dec)
				row[7], row[8] = FormatVolume(c.Volume), strconv.FormatInt(int64(c.Count), 10)
				if err := cw.Write(row); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// waitTurn says a build must wait: its user already has the most reports
// running. The job queue runs it again after RetryAfter without counting an
// attempt.
type waitTurn struct {
	user  int64
	max   int
	after time.Duration
}

func (e *waitTurn) Error() string {
	return fmt.Sprintf("user %d already has %d reports running; waiting %v for a turn", e.user, e.max, e.after)
}

// RetryAfter is how long the build waits before it looks again.
func (e *waitTurn) RetryAfter() time.Duration { return e.after }

// DeferReason names the deferral in findash_jobs_deferred_total.
func (e *waitTurn) DeferReason() string { return "user_cap" }

// permanentError is a build error no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }
