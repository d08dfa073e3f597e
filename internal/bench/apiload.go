package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// newLoadClient returns a client keeping one connection per user alive.
// Compression is off: it would cost the generator CPU the server does not
// spend (the server's answers are small JSON).
func newLoadClient(users int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        users + 16,
			MaxIdleConnsPerHost: users + 16,
			MaxConnsPerHost:     users + 16,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
}

type routeAgg struct {
	hist   *Histogram
	errors atomic.Int64
}

type loadResult struct {
	routes   map[string]*routeAgg
	total    *Histogram
	errors   int64
	elapsed  time.Duration
	firstErr string
	// cpu0 and cpu1 are the load's probe read when recording started and
	// when the last user stopped: the window elapsed and total cover.
	cpu0, cpu1 cpuPoint
	// bodyBytes are the bytes of the bodies of the requests recorded
	// (answered without error in the window).
	bodyBytes int64
}

// load is how runLoad drives: users connections, closed loop (rate 0) or
// at rate requests/s in total, for dur.
type load struct {
	users int
	rate  float64
	dur   time.Duration
	// first numbers the users from first on (their random streams): the
	// processes of --procs run different users.
	first int
	// gate, when set, is called once the users are ready to send (open
	// loop: every connection opened; closed loop: before any starts) and
	// the run starts when it returns true: a child of --procs waits there
	// for the parent's start so that every process measures the same
	// window. false ends the run before it starts.
	gate func() bool
	// probe, when set, names the processes whose CPU is read over the
	// recorded window (loadResult.phase).
	probe *cpuProbe
}

// runLoad runs l.users users over mix against base for l.dur, after a
// warm-up of half a second (connections opened, not recorded).
func runLoad(ctx context.Context, client *http.Client, base string, l load, mix []route, symbols []string, prog *Progress) loadResult {
	lr := loadResult{routes: make(map[string]*routeAgg), total: NewHistogram()}
	weights := 0
	for _, r := range mix {
		lr.routes[r.name] = &routeAgg{hist: NewHistogram()}
		weights += r.weight
	}
	var (
		recording atomic.Bool
		count     atomic.Int64
		bodyBytes atomic.Int64
		errs      atomic.Int64
		errOnce   sync.Once
		wg        sync.WaitGroup
	)
	warm := min(500*time.Millisecond, l.dur/4)
	// runCtx ends l.dur after recording starts (below).
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// Open loop: user u sends at start + u·period/users + k·period, start
	// being when every user has opened its connection (one request, not
	// recorded): a schedule running while 1,000 connections are still
	// being opened measures the connecting, not the serving.
	var period time.Duration
	var opened sync.WaitGroup
	started := make(chan time.Time, l.users)
	if l.rate > 0 {
		period = time.Duration(float64(l.users) / l.rate * float64(time.Second))
		opened.Add(l.users)
	}
	if period == 0 && l.gate != nil && !l.gate() {
		stop()
	}
	for u := range l.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(l.first+u), 0x5eed))
			// The body is read in pieces of this buffer: 4 KiB, not the
			// whole body, because 50,000 users of 32 KiB each made 1.6 GiB.
			buf := make([]byte, 4<<10)
			var next time.Time
			if period > 0 {
				_, err := get(runCtx, client, base+mix[0].path(rng, symbols, time.Now()), buf)
				opened.Done()
				if err != nil && runCtx.Err() == nil {
					errs.Add(1) // this user connects inside the schedule
					errOnce.Do(func() { lr.firstErr = "opening the connection: " + err.Error() })
				}
				select {
				case start := <-started:
					next = start.Add(time.Duration(float64(period) * float64(u) / float64(l.users)))
				case <-runCtx.Done():
					return
				}
				// Requests due but not sent when the run ends are the
				// slowest: count each (under the mix's first route) with
				// the time it has waited so far, or p99 would come out low
				// exactly when the server is behind.
				defer func() {
					if !recording.Load() {
						return
					}
					end := time.Now()
					for ; next.Before(end); next = next.Add(period) {
						lr.routes[mix[0].name].hist.Record(end.Sub(next))
						count.Add(1)
					}
				}()
			}
			for runCtx.Err() == nil {
				w := rng.IntN(weights)
				var rt route
				for _, rt = range mix {
					if w -= rt.weight; w < 0 {
						break
					}
				}
				t0 := time.Now()
				if period > 0 {
					if wait := time.Until(next); wait > 0 && !sleep(runCtx, wait) {
						return
					}
					t0 = next // latency counts from the scheduled time
					next = next.Add(period)
				}
				url := base + rt.path(rng, symbols, time.Now())
				n, err := get(runCtx, client, url, buf)
				d := time.Since(t0)
				if !recording.Load() {
					continue
				}
				if runCtx.Err() != nil {
					if period > 0 && err != nil {
						// Cut off by the end of the run: unanswered after d.
						lr.routes[rt.name].hist.Record(d)
						count.Add(1)
					}
					continue
				}
				agg := lr.routes[rt.name]
				if err != nil {
					agg.errors.Add(1)
					errs.Add(1)
					errOnce.Do(func() { lr.firstErr = err.Error() })
					continue
				}
				agg.hist.Record(d)
				count.Add(1)
				bodyBytes.Add(n)
			}
		}()
	}
	if period > 0 {
		opened.Wait()
		if l.gate != nil && !l.gate() {
			stop()
		}
		start := time.Now()
		for range l.users {
			started <- start
		}
	}
	sleep(ctx, warm)
	lr.cpu0 = l.probe.read()
	recording.Store(true)
	t0 := time.Now()
	end := time.AfterFunc(l.dur, stop)
	defer end.Stop()
	var last int64
	stopProg := prog.Start(ctx, time.Second, func() string {
		n := count.Load()
		s := fmt.Sprintf("%d users, %s req/s, %d errors", l.users, human(float64(n-last)), errs.Load())
		last = n
		return s
	})
	wg.Wait()
	lr.elapsed = time.Since(t0)
	lr.cpu1 = l.probe.read()
	stopProg()
	for _, a := range lr.routes {
		lr.total.Merge(a.hist)
	}
	lr.errors = errs.Load()
	lr.bodyBytes = bodyBytes.Load()
	return lr
}

// get fetches url and reads the whole body into buf (reused), returning
// the body's length; a status other than 200 or 304 is an error.
func get(ctx context.Context, client *http.Client, url string, buf []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("GET %s: read: %w", url, err)
		}
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotModified {
		return n, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, nil
}
