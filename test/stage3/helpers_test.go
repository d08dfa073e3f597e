package stage3_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/testenv"
)

// instance is one findash process of the stack.
type instance struct {
	name  string
	http  string // host:port of the public listener
	admin string
	env   []string
	bin   string
	p     *proc
}

func (in *instance) url(path string) string { return "http://" + in.http + path }

// start (re)starts the process with the instance's environment.
func (in *instance) start(t *testing.T) {
	t.Helper()
	in.p = startProc(t, in.name, in.env, in.bin, "serve")
}

// waitReady waits until /readyz answers 200 (the process may still be
// joining the cluster or catching up with the event log).
func (in *instance) waitReady(t *testing.T, d time.Duration) {
	t.Helper()
	var last string
	ok := testenv.WaitFor(d, func() bool {
		if in.p.exited() {
			return true
		}
		code, body, err := get(in.url("/readyz"))
		last = fmt.Sprintf("%d %s %v", code, body, err)
		return code == 200
	})
	if !ok || in.p.exited() {
		t.Fatalf("%s: /readyz not 200 within %v (last: %s; process %s):\n%s", in.name, d, last, in.p.state(), in.p.out.Tail(40))
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func get(u string) (int, string, error) {
	resp, err := httpClient.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// readiness is the body of /readyz.
type readiness struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"checks"`
}

// allReady polls /readyz of every instance until each answers 200 with
// status and check (if not empty) in checkStatus; it returns the last
// answer that did not.
func allReady(ins []*instance, d time.Duration, status, check, checkStatus string) (readiness, bool) {
	var last readiness
	ok := testenv.WaitFor(d, func() bool {
		for _, in := range ins {
			code, r, err := readyz(in.url(""))
			last = r
			if err != nil || code != 200 || r.Status != status || check != "" && r.Checks[check].Status != checkStatus {
				return false
			}
		}
		return true
	})
	return last, ok
}

func readyz(u string) (int, readiness, error) {
	code, body, err := get(u + "/readyz")
	var r readiness
	if err == nil {
		err = json.Unmarshal([]byte(body), &r)
	}
	return code, r, err
}

// candleCount sums the count of the 1m candles of symbol over [from, to):
// the number of stored ticks. from varies per call so that a response cache
// cannot answer instead of the database.
func candleCount(base, symbol string, from, to int64) (int64, int, error) {
	code, body, err := get(fmt.Sprintf("%s/api/v1/candles/%s?interval=1m&from=%d&to=%d&limit=1000", base, url.PathEscape(symbol), from, to))
	if err != nil {
		return 0, code, err
	}
	if code != 200 {
		return 0, code, fmt.Errorf("candles: %d %s", code, body)
	}
	var out struct {
		Data []struct {
			Count int64 `json:"count"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return 0, code, fmt.Errorf("candles: %w: %s", err, body)
	}
	var n int64
	for _, c := range out.Data {
		n += c.Count
	}
	return n, code, nil
}

// createAPIKey runs `findash user create --api-key` against the database
// and returns the key it prints.
func createAPIKey(t *testing.T, bin string, env []string) string {
	t.Helper()
	cmd := exec.Command(bin, "user", "create", "--email", "stage3@example.com", "--api-key")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("findash user create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`api key[^:]*: (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("findash user create printed no API key:\n%s", out)
	}
	return string(m[1])
}

// feeder posts NDJSON tick batches. Tick i of a symbol has ts = ts0 + i
// and size = i, so the database shows exactly which ticks it holds.
type feeder struct {
	base   string // http://host:port
	key    string
	symbol string
	ts0    int64
	client *http.Client

	mu    sync.Mutex
	acked []int // indexes of ticks answered 202
	fails map[string]int
}

func newFeeder(base, key, symbol string, ts0 int64) *feeder {
	return &feeder{base: base, key: key, symbol: symbol, ts0: ts0, fails: map[string]int{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

// post sends ticks [from, from+n) and reports whether they got a 202.
func (f *feeder) post(ctx context.Context, from, n int) bool {
	var sb strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&sb, `{"symbol":%q,"ts":%d,"price":%d,"size":%d}`+"\n", f.symbol, f.ts0+int64(i), 100+i%50, i)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", f.base+"/api/v1/ticks", strings.NewReader(sb.String()))
	req.Header.Set("Authorization", "Bearer "+f.key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := f.client.Do(req)
	if err != nil {
		f.fail(fmt.Sprintf("error %v", shortErr(err)))
		return false
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf(`"accepted":%d`, n)
	if resp.StatusCode != 202 || !strings.Contains(string(body), want) {
		f.fail(fmt.Sprintf("%d %.80s", resp.StatusCode, strings.TrimSpace(string(body))))
		return false
	}
	f.mu.Lock()
	for i := from; i < from+n; i++ {
		f.acked = append(f.acked, i)
	}
	f.mu.Unlock()
	return true
}

// postAll sends ticks [0, total) in batches of batch from posters
// concurrent posters (poster p sends batches p, p+posters, …) and returns
// when all are answered.
func (f *feeder) postAll(ctx context.Context, total, batch, posters int) {
	var wg sync.WaitGroup
	for p := range posters {
		wg.Go(func() {
			for from := p * batch; from < total; from += posters * batch {
				f.post(ctx, from, batch)
			}
		})
	}
	wg.Wait()
}

// ackedCount is how many ticks have been answered 202 so far.
func (f *feeder) ackedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.acked)
}

// pacedPost posts batches of n ticks, taking the indexes from next, at most
// one batch per period, until ctx ends: a steady load, not a flood.
func (f *feeder) pacedPost(ctx context.Context, next func() int, n int, period time.Duration) {
	pace := time.NewTicker(period)
	defer pace.Stop()
	for ctx.Err() == nil {
		f.post(ctx, next(), n)
		select {
		case <-ctx.Done():
		case <-pace.C:
		}
	}
}

func (f *feeder) fail(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[what]++
}

func (f *feeder) results() (acked []int, fails map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fails = map[string]int{}
	for k, v := range f.fails {
		fails[k] = v
	}
	return append([]int(nil), f.acked...), fails
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// withDB returns raw with its database name replaced and query parameters
// set.
func withDB(t *testing.T, raw, db string, params ...string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	u.Path = "/" + db
	q := u.Query()
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// timings collects the numbers the test measures, printed at its end
// (go test -v) for docs/stages.md.
type timings struct {
	mu    sync.Mutex
	lines []string
}

func (tm *timings) add(t *testing.T, format string, args ...any) {
	t.Helper()
	s := fmt.Sprintf(format, args...)
	t.Log(s)
	tm.mu.Lock()
	tm.lines = append(tm.lines, s)
	tm.mu.Unlock()
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
