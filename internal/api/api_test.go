package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// Compile-time conformance of the real collaborators.
var (
	_ api.Market      = (*market.State)(nil)
	_ api.CandleStore = (*sqlite.DB)(nil)
)

// t0 is the start of the test market: 2026-11-27T12:00:00Z.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMilli()

// testNow is the wall clock of the tests: 10 min 30 s after t0.
var testNow = time.UnixMilli(t0 + 630_000).UTC()

// testParse parses ingest bodies with the default limits at testNow.
var testParse = ingest.NewParser(ingest.ParserConfig{Now: func() time.Time { return testNow }}, nil).Parse

const (
	keyToken     = "fd_test_key"
	sessionToken = "sess_test"
)

// tokens is an Authenticator of fixed tokens (the real one needs users and
// argon2; internal/auth tests it).
type tokens map[string]auth.Principal

func (t tokens) Authenticate(_ context.Context, bearer string) (auth.Principal, error) {
	if p, ok := t[bearer]; ok {
		return p, nil
	}
	return auth.Principal{}, auth.ErrUnauthenticated
}

// AuthenticateCached is Authenticate: the tokens are all in memory.
func (t tokens) AuthenticateCached(ctx context.Context, bearer string) (auth.Principal, error) {
	return t.Authenticate(ctx, bearer)
}

// recorder is a Publisher that records what it was given, or fails with err.
type recorder struct {
	mu    sync.Mutex
	ticks []market.Tick
	calls int
	err   error
}

func (p *recorder) Publish(_ context.Context, ticks []market.Tick) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return p.err
	}
	p.ticks = append(p.ticks, ticks...)
	return nil
}

func (p *recorder) published() (int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, len(p.ticks)
}

// marketTicks is the test market: three symbols, a tick every 20 s from t0
// to t0+10m20s; prices rise for BTC-USD, fall for AAPL, are flat for EUR/USD.
func marketTicks() []market.Tick {
	var ticks []market.Tick
	seq := uint64(1) << 16
	for _, s := range []struct {
		sym         string
		start, step float64
	}{{"AAPL", 200, -0.5}, {"BTC-USD", 43000, 25}, {"EUR/USD", 1.08, 0}} {
		for i := range 32 {
			ticks = append(ticks, market.Tick{
				Symbol: s.sym, TS: t0 + int64(i)*20_000,
				Price: s.start + s.step*float64(i), Size: float64(i%4) + 0.5, Seq: seq,
			})
			seq++
		}
	}
	return ticks
}

type fixture struct {
	srv   *httptest.Server
	api   *api.API
	state *market.State
	db    *sqlite.DB
	pub   *recorder
	reg   *prometheus.Registry
	check map[string]error // results of the readiness checks, by name
	mu    sync.Mutex
}

type option func(*api.Config, *api.Deps)

// newFixture serves an API over a real market.State and a real SQLite store
// holding the test market. The store lags: it lacks the last two ticks of
// each symbol, which only the live state has.
func newFixture(t testing.TB, opts ...option) *fixture {
	t.Helper()
	f := newBareFixture(t, opts...)
	f.srv = httptest.NewServer(f.api.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// newBareFixture is newFixture without the HTTP server (f.srv is nil), for
// a test in a synctest bubble, where a listener's goroutine (blocked on the
// network, not durably) would keep the fake clock from moving: such a test
// calls f.api.Handler() directly.
func newBareFixture(t testing.TB, opts ...option) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "findash.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ticks := marketTicks()
	var stored []market.Tick
	for _, tk := range ticks {
		if tk.TS < t0+30*20_000 {
			stored = append(stored, tk)
		}
	}
	r := market.NewRollup()
	for i := range stored {
		r.Add(&stored[i])
	}
	if err := db.WriteBatch(ctx, market.Unpartitioned, stored, r.Candles(), 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	state := market.NewState()
	var u market.Update
	state.Apply(ticks, &u)

	f := &fixture{state: state, db: db, pub: &recorder{}, reg: prometheus.NewRegistry(), check: map[string]error{}}
	probe := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			f.mu.Lock()
			err := f.check[name]
			f.mu.Unlock()
			if err == context.DeadlineExceeded { // a hung dependency
				<-ctx.Done()
				return ctx.Err()
			}
			return err
		}
	}
	deps := api.Deps{
		Market: state, Candles: db, Publisher: f.pub, Parse: testParse,
		Auth: tokens{keyToken: {UserID: 1, APIKeyID: 7}, sessionToken: {UserID: 1}},
		WebSocket: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "websocket here")
		}),
		Checks: []api.Check{
			{Name: "database", Critical: true, Fn: probe("database")},
			{Name: "cache", Critical: false, Fn: probe("cache")},
		},
		Version: "v0.0.0-test", Stage: 1,
		Now: func() time.Time { return testNow },
	}
	cfg := api.Config{CheckTimeout: 50 * time.Millisecond}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	f.api = api.New(deps, cfg, nil, f.reg)
	t.Cleanup(f.api.Close)
	return f
}

func (f *fixture) setCheck(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.check[name] = err
}

// do sends a request and returns the response with its body read.
func (f *fixture) do(t *testing.T, method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from %s (-want +got):\n%s", name, path, diff)
	}
}

// indent re-indents JSON so golden files diff line by line.
func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, b)
	}
	return append(buf.Bytes(), '\n')
}

// errorOf decodes an error body, failing the test if it is not exactly the
// contract's shape.
func errorOf(t *testing.T, b []byte) (code, message string) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Lines   []struct {
				Line    int    `json:"line"`
				Field   string `json:"field"`
				Reason  string `json:"reason"`
				Message string `json:"message"`
			} `json:"lines"` // only on invalid_tick
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("error body %s is not {\"error\":{\"code\",\"message\"}}: %v", b, err)
	}
	if len(body.Error.Lines) > 0 && body.Error.Code != "invalid_tick" {
		t.Fatalf("error body %s: lines on a %s error", b, body.Error.Code)
	}
	return body.Error.Code, body.Error.Message
}

var errBoom = errors.New("boom")

func cmpDiff(want, got any) string { return cmp.Diff(want, got) }
