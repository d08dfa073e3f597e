package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// APIPhase is one phase of `bench api`: its throughput, p99 and, over the
// same window as the requests counted, the CPU its server and the
// generator spent per request and their cores busy. On one machine the
// generator shares the cores with the server, so a throughput ratio alone
// reads the sum of both costs; the server's CPU per request is its own.
type APIPhase struct {
	// Phase is mix, quotes, bare, mix_half or bare_half.
	Phase       string  `json:"phase"`
	PerS        float64 `json:"per_s"`
	OfferedPerS float64 `json:"offered_per_s,omitempty"`
	P99MS       float64 `json:"p99_ms"`
	// ServerUSPerReq and ServerCores: the server of the phase (findash
	// with --server-pid, the bare child for bare phases), from
	// /proc/<pid>/stat; 0 when not read.
	ServerUSPerReq float64 `json:"server_us_per_req,omitempty"`
	ServerCores    float64 `json:"server_cores,omitempty"`
	// GeneratorUSPerReq and GeneratorCores: this process (not with
	// --procs). GeneratorSaturated: it was busy on ≥ 90 % of the CPUs it
	// may run on, so the phase's throughput is the generator's limit.
	GeneratorUSPerReq  float64 `json:"generator_us_per_req,omitempty"`
	GeneratorCores     float64 `json:"generator_cores,omitempty"`
	GeneratorSaturated bool    `json:"generator_saturated,omitempty"`
	// BodyBytesPerReq is the mean body size answered: the mix's bodies
	// are not the bare handler's, and bytes cost write and read syscalls
	// on both sides.
	BodyBytesPerReq float64 `json:"body_bytes_per_req,omitempty"`
}

// cpuProbe names the processes whose CPU a phase reads: its server and the
// generator (0: not read).
type cpuProbe struct{ server, gen int }

// cpuPoint is the probe's processes' user + system CPU seconds at a moment
// (negative: not read).
type cpuPoint struct{ server, gen float64 }

func (p *cpuProbe) read() cpuPoint {
	pt := cpuPoint{server: -1, gen: -1}
	if p == nil {
		return pt
	}
	if c, err := readProcCPU(p.server); p.server > 0 && err == nil {
		pt.server = c.UserS + c.SysS
	}
	if c, err := readProcCPU(p.gen); p.gen > 0 && err == nil {
		pt.gen = c.UserS + c.SysS
	}
	return pt
}

// phase summarises lr as the phase name; genCPUs is how many CPUs the
// generator may run on.
func (lr loadResult) phase(name string, offered float64, genCPUs int) APIPhase {
	n := float64(lr.total.Count())
	s := lr.elapsed.Seconds()
	p := APIPhase{Phase: name, OfferedPerS: offered, P99MS: lr.total.Quantiles().P99}
	if s <= 0 || n <= 0 {
		return p
	}
	p.PerS = n / s
	p.BodyBytesPerReq = float64(lr.bodyBytes) / n
	if lr.cpu0.server >= 0 && lr.cpu1.server >= 0 {
		d := lr.cpu1.server - lr.cpu0.server
		p.ServerUSPerReq, p.ServerCores = d*1e6/n, d/s
	}
	if lr.cpu0.gen >= 0 && lr.cpu1.gen >= 0 {
		d := lr.cpu1.gen - lr.cpu0.gen
		p.GeneratorUSPerReq, p.GeneratorCores = d*1e6/n, d/s
		p.GeneratorSaturated = p.GeneratorCores >= 0.9*float64(genCPUs)
	}
	return p
}

// ParsePin parses --pin's "GEN:SERVER", two CPU lists such as 0:1 or
// 0,2:1,3 or 0-1:2-3: the generator's CPUs, then the servers'.
func ParsePin(s string) (gen, server []int, err error) {
	g, sv, ok := strings.Cut(s, ":")
	if !ok {
		return nil, nil, fmt.Errorf("%w: --pin %q: want GEN:SERVER CPU lists, e.g. 0:1", ErrUsage, s)
	}
	if gen, err = parseCPUList(g); err == nil {
		server, err = parseCPUList(sv)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --pin %q: %w", ErrUsage, s, err)
	}
	for _, c := range gen {
		for _, d := range server {
			if c == d {
				return nil, nil, fmt.Errorf("%w: --pin %q: CPU %d is on both sides", ErrUsage, s, c)
			}
		}
	}
	return gen, server, nil
}

// parseCPUList parses a list of CPUs and ranges, e.g. 0,2-3.
func parseCPUList(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= 1024 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// pinning is what RunAPI pinned, to undo at the end.
type pinning struct {
	genCPUs   int   // how many CPUs the generator may run on
	gen       []int // the generator's CPUs, when pinned
	serverPID int
	server    []int // the server's CPUs (pinned) …
	restore   []int // … and those it had before
}

// pinAPI pins this process to cfg.PinGenerator and cfg.ServerPID to
// cfg.PinServer; without them it only counts the generator's CPUs.
func pinAPI(ctx context.Context, cfg APIConfig) (*pinning, error) {
	p := &pinning{genCPUs: runtime.NumCPU()}
	if cpus, err := processCPUs(os.Getpid()); err == nil {
		p.genCPUs = len(cpus)
	}
	if len(cfg.PinServer) == 0 {
		return p, nil
	}
	orig, err := processCPUs(cfg.ServerPID)
	if err != nil {
		return nil, err
	}
	if _, err := pinProcess(cfg.ServerPID, cfg.PinServer); err != nil {
		return nil, err
	}
	p.serverPID, p.server, p.restore, p.gen = cfg.ServerPID, cfg.PinServer, orig, cfg.PinGenerator
	if p.genCPUs, err = pinProcess(os.Getpid(), cfg.PinGenerator); err != nil {
		p.undo()
		return nil, err
	}
	// A Go server sets GOMAXPROCS from its affinity at start and, since
	// Go 1.25, again about once a second (checked here: 2 → 1 within
	// 1.5 s of taskset). Let it follow before the mix, so that the server
	// does not run two Ps on one CPU while the bare child, started on one
	// CPU, runs one.
	sleep(ctx, pinSettle)
	return p, nil
}

// pinSettle is how long RunAPI lets a pinned server's runtime see its
// new CPU count.
const pinSettle = 2 * time.Second

// undo gives the server back the CPUs it had (the generator exits).
func (p *pinning) undo() {
	if p.serverPID > 0 {
		pinProcess(p.serverPID, p.restore) // best effort: the server may be gone
	}
}

// describe says what was pinned, for the result.
func (p *pinning) describe() string {
	if p.serverPID == 0 {
		return ""
	}
	return fmt.Sprintf("generator on CPUs %v, the server (pid %d) and the bare child on CPUs %v", p.gen, p.serverPID, p.server)
}

// notePhases derives MixToBareByCPU and says in the notes which phases
// the generator saturated: their throughput is the generator's.
func (r *Result) notePhases() {
	a := r.APIResult
	var mix, bare *APIPhase
	for i := range a.Phases {
		p := &a.Phases[i]
		switch p.Phase {
		case "mix":
			mix = p
		case "bare":
			bare = p
		}
		if p.GeneratorSaturated {
			r.Notes = append(r.Notes, fmt.Sprintf("phase %s: the generator was busy %.2f cores, ≥ 90 %% of its CPUs: the throughput there is the generator's limit, not the server's (compare server µs/req)", p.Phase, p.GeneratorCores))
		}
	}
	if mix != nil && bare != nil && mix.ServerUSPerReq > 0 && bare.ServerUSPerReq > 0 {
		a.MixToBareByCPU = bare.ServerUSPerReq / mix.ServerUSPerReq
	}
}

// writePhases writes the phases' CPU columns, when any was read.
func (a *APIResult) writePhases(w io.Writer) {
	read := false
	for _, p := range a.Phases {
		read = read || p.ServerCores > 0 || p.GeneratorCores > 0
	}
	if !read {
		return
	}
	if a.Pinned != "" {
		fmt.Fprintf(w, "pinned\t%s\n", a.Pinned)
	}
	fmt.Fprintln(w, "phase\treq/s\tp99\tbody B/req\tserver µs/req\tserver cores\tgenerator µs/req\tgenerator cores")
	for _, p := range a.Phases {
		sat := ""
		if p.GeneratorSaturated {
			sat = " (saturated)"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%.0f\t%.1f\t%.2f\t%.1f\t%.2f%s\n", p.Phase, human(p.PerS), ms(p.P99MS), p.BodyBytesPerReq, p.ServerUSPerReq, p.ServerCores, p.GeneratorUSPerReq, p.GeneratorCores, sat)
	}
	if a.MixToBareByCPU > 0 {
		fmt.Fprintf(w, "  mix/bare by CPU\t%.2f (the bare server's CPU per request over findash's in the mix)\n", a.MixToBareByCPU)
	}
}
