package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAPI answers the mix's routes like findash does in shape: the symbol
// list, and a small JSON body for everything else. It counts requests.
type fakeAPI struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/symbols" {
			io.WriteString(w, `{"data":[{"symbol":"AAA"},{"symbol":"BBB"}]}`)
			return
		}
		f.hits.Add(1)
		io.WriteString(w, `{"data":[]}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// pipeChild runs a child's body (RunAPIChild, RunAPIBare) on a goroutine
// with pipes for its stdin and stdout, as a child process would.
func pipeChild(t *testing.T, run func(context.Context, io.Reader, io.Writer) error) func(context.Context) Child {
	return func(ctx context.Context) Child {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := run(ctx, inR, outW)
			outW.Close()
			inR.Close()
			done <- err
		}()
		return Child{Stdin: inW, Stdout: outR, Wait: func() error {
			err := <-done
			if err != nil {
				t.Errorf("child: %v", err)
			}
			return err
		}}
	}
}

func TestRunAPIProcsMergesTheChildrensHistograms(t *testing.T) {
	a, b := newFakeAPI(t), newFakeAPI(t)
	const rate, dur = 400.0, time.Second
	res, err := RunAPI(t.Context(), APIConfig{
		Target: a.srv.URL + "," + b.srv.URL, Users: 30, Rate: rate, Duration: dur,
		Procs: 3, ChildCommand: pipeChild(t, RunAPIChild),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Three children at 400/3 req/s each for 1 s: ~400 samples, merged. One
	// child's alone would be ~133; the upper bound allows a loaded machine
	// running a child's phase late and long (CI saw 571).
	if res.Samples < 300 || res.Samples > 800 {
		t.Errorf("samples = %d, want ~%v (the children's histograms added up)", res.Samples, rate*dur.Seconds())
	}
	var routes int64
	for _, r := range res.Routes {
		if r.Requests == 0 {
			t.Errorf("route %s: no requests", r.Route)
		}
		routes += r.Requests
	}
	if routes != res.Samples {
		t.Errorf("routes add up to %d, the total is %d", routes, res.Samples)
	}
	if res.Errors != 0 || res.Processes != 3 || res.OfferedPerS != rate {
		t.Errorf("errors %d, procs %d, offered %v", res.Errors, res.Processes, res.OfferedPerS)
	}
	// Children 0 and 2 send to a, child 1 to b.
	if a.hits.Load() == 0 || b.hits.Load() == 0 || a.hits.Load() < b.hits.Load() {
		t.Errorf("requests: %d to the first target, %d to the second; want both, the first about twice", a.hits.Load(), b.hits.Load())
	}
}

func TestRunAPIBaselineComparesTheMixWithABareHandler(t *testing.T) {
	for _, child := range []bool{false, true} {
		t.Run(map[bool]string{false: "in process", true: "child"}[child], func(t *testing.T) {
			f := newFakeAPI(t)
			cfg := APIConfig{Target: f.srv.URL, Users: 4, Duration: 300 * time.Millisecond, Baseline: true}
			if child {
				cfg.BareCommand = pipeChild(t, RunAPIBare)
			}
			res, err := RunAPI(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			a := res.APIResult
			if a.BarePerS <= 0 || a.QuotesPerS <= 0 || a.MixToBareRatio <= 0 {
				t.Fatalf("bare %v/s, quotes %v/s, mix/bare %v", a.BarePerS, a.QuotesPerS, a.MixToBareRatio)
			}
			if got, want := a.MixToBareRatio, res.ThroughputPerS/a.BarePerS; got != want {
				t.Errorf("mix/bare = %v, want %v", got, want)
			}
			if a.HalfRatePerS != res.ThroughputPerS/2 || a.MixHalfP99MS <= 0 || a.BareHalfP99MS <= 0 || a.HalfP99Ratio != a.MixHalfP99MS/a.BareHalfP99MS {
				t.Errorf("half rate %v (mix %v/s): mix p99 %v, bare p99 %v, ratio %v", a.HalfRatePerS, res.ThroughputPerS, a.MixHalfP99MS, a.BareHalfP99MS, a.HalfP99Ratio)
			}
			var out strings.Builder
			if err := res.WriteTable(&out); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"mix/bare", "at half"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("table without %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestRunAPIRefusesSeveralTargetsWithoutProcs(t *testing.T) {
	_, err := RunAPI(t.Context(), APIConfig{Target: "http://a,http://b", Users: 1, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "--procs") {
		t.Errorf("err = %v, want a usage error naming --procs", err)
	}
}
