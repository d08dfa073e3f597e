package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// serverRef is how the generator observes one server process: its admin
// /metrics (RSS, goroutines, GC pauses, and CPU when there is no pid) and
// its process id on this machine (user and system CPU from /proc). Either
// may be empty.
type serverRef struct {
	MetricsURL string
	PID        int
}

// serverSample is what the generator reads from the servers at one moment,
// added up over the servers.
type serverSample struct {
	RSSBytes   float64 // process_resident_memory_bytes
	CPUSeconds float64 // user + system: /proc when every server has a pid, else process_cpu_seconds_total
	// UserS and SysS are set when every server has a pid (Proc).
	UserS, SysS float64
	Proc        bool
	// Goroutines is go_goroutines (Metrics).
	Goroutines float64
	Metrics    bool
	// GCPauses is the cumulative histogram of stop-the-world pauses for
	// GC (go_sched_pauses_total_gc_seconds, upper bound → count) when the
	// server exports it; GCSum and GCCount are go_gc_duration_seconds'.
	GCPauses       map[float64]float64
	GCSum, GCCount float64
}

const gcPauseHistogram = "go_sched_pauses_total_gc_seconds_bucket"

// sampleServers reads every server once and adds up the samples. A server
// with a pid is read from /proc; one with a metrics URL from /metrics.
func sampleServers(ctx context.Context, client *http.Client, refs []serverRef) (serverSample, error) {
	s := serverSample{Proc: len(refs) > 0, Metrics: len(refs) > 0}
	for _, r := range refs {
		if r.PID > 0 {
			p, err := readProcCPU(r.PID)
			if err != nil {
				return serverSample{}, err
			}
			s.UserS += p.UserS
			s.SysS += p.SysS
		} else {
			s.Proc = false
		}
		if r.MetricsURL == "" {
			s.Metrics = false
			continue
		}
		m, err := scrapeAll(ctx, client, r.MetricsURL)
		if err != nil {
			return serverSample{}, err
		}
		s.RSSBytes += m["process_resident_memory_bytes"]
		s.CPUSeconds += m["process_cpu_seconds_total"]
		s.Goroutines += m["go_goroutines"]
		s.GCSum += m["go_gc_duration_seconds_sum"]
		s.GCCount += m["go_gc_duration_seconds_count"]
		for k, v := range m {
			rest, ok := strings.CutPrefix(k, gcPauseHistogram+`{le="`)
			if !ok {
				continue
			}
			le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
			if err != nil {
				continue
			}
			if s.GCPauses == nil {
				s.GCPauses = make(map[float64]float64)
			}
			s.GCPauses[le] += v
		}
	}
	if s.Proc {
		s.CPUSeconds = s.UserS + s.SysS
	}
	return s, nil
}

// serverWindow is what the servers did between two samples.
type serverWindow struct {
	CPUS, UserS, SysS float64 // user and system only when Proc
	Proc              bool
	GCCycles          float64
	GCPauseMeanMS     float64
	GCPauseP99MS      float64 // upper bound of the bucket holding the 99th percentile; 0 without the histogram
}

// windowOf returns what happened between a and b (b later).
func windowOf(a, b serverSample) serverWindow {
	w := serverWindow{CPUS: b.CPUSeconds - a.CPUSeconds, Proc: a.Proc && b.Proc}
	if w.Proc {
		w.UserS, w.SysS = b.UserS-a.UserS, b.SysS-a.SysS
	}
	w.GCCycles = b.GCCount - a.GCCount
	if w.GCCycles > 0 {
		w.GCPauseMeanMS = (b.GCSum - a.GCSum) / w.GCCycles * 1e3
	}
	w.GCPauseP99MS = histQuantile(a.GCPauses, b.GCPauses, 0.99) * 1e3
	return w
}

// histQuantile returns the upper bound of the bucket that holds quantile q
// of the observations made between the cumulative histograms a and b
// (upper bound → cumulative count), 0 when there were none. For the +Inf
// bucket it returns the highest finite bound.
func histQuantile(a, b map[float64]float64, q float64) float64 {
	les := make([]float64, 0, len(b))
	for le := range b {
		les = append(les, le)
	}
	slices.Sort(les)
	if len(les) == 0 {
		return 0
	}
	total := b[les[len(les)-1]] - a[les[len(les)-1]]
	if total <= 0 {
		return 0
	}
	for i, le := range les {
		if b[le]-a[le] >= q*total {
			if math.IsInf(le, 1) && i > 0 {
				return les[i-1]
			}
			return le
		}
	}
	return les[len(les)-1]
}

// scrapeAll reads every sample of a Prometheus text endpoint, keyed by its
// series as written (name and labels), e.g. go_goroutines or
// go_sched_pauses_total_gc_seconds_bucket{le="0.001"}.
func scrapeAll(ctx context.Context, client *http.Client, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	out := make(map[string]float64, 256)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the last space (label values here hold none).
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	if _, ok := out["process_cpu_seconds_total"]; !ok {
		return nil, fmt.Errorf("scrape %s: no metric process_cpu_seconds_total", url)
	}
	return out, nil
}
