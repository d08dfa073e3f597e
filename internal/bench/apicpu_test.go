package bench

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePin(t *testing.T) {
	for _, c := range []struct {
		in          string
		gen, server []int
		bad         bool
	}{
		{in: "0:1", gen: []int{0}, server: []int{1}},
		{in: "0,2:1,3", gen: []int{0, 2}, server: []int{1, 3}},
		{in: "0-1:2-3", gen: []int{0, 1}, server: []int{2, 3}},
		{in: "0", bad: true},
		{in: "0:0", bad: true},
		{in: "1-0:2", bad: true},
		{in: "a:1", bad: true},
		{in: "0:", bad: true},
	} {
		gen, server, err := ParsePin(c.in)
		if (err != nil) != c.bad || !slices.Equal(gen, c.gen) || !slices.Equal(server, c.server) {
			t.Errorf("ParsePin(%q) = %v, %v, %v", c.in, gen, server, err)
		}
	}
}

// TestPinProcessPinsEveryThread pins a Go child process (several threads)
// and checks every thread's affinity: sched_setaffinity of the process id
// alone moves only its main thread.
func TestPinProcessPinsEveryThread(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.NumCPU() < 2 {
		t.Skip("needs Linux and 2 CPUs")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSleeps$")
	cmd.Env = append(os.Environ(), "BENCH_HELPER_SLEEP=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Wait for its runtime to start its threads: 200 ms was not enough for a
	// race-built child on a loaded machine (CI saw one thread).
	pid := cmd.Process.Pid
	var tids []int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if tids, err = processThreads(pid); err == nil && len(tids) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v, %v: want several", tids, err)
		}
	}
	if n, err := pinProcess(pid, []int{1}); err != nil || n != 1 {
		t.Fatalf("pinProcess = %d, %v", n, err)
	}
	tids, err := processThreads(pid)
	if err != nil || len(tids) < 2 {
		t.Fatalf("threads %v, %v: want several", tids, err)
	}
	for _, tid := range tids {
		if cpus, err := processCPUs(tid); err != nil || !slices.Equal(cpus, []int{1}) {
			t.Errorf("thread %d: CPUs %v, %v; want [1]", tid, cpus, err)
		}
	}
}

// TestHelperSleeps is the child of TestPinProcessPinsEveryThread.
func TestHelperSleeps(t *testing.T) {
	if os.Getenv("BENCH_HELPER_SLEEP") == "" {
		t.Skip("a helper process")
	}
	time.Sleep(time.Minute)
}

func TestRunAPIReportsCPUPerRequest(t *testing.T) {
	f := newFakeAPI(t)
	// The fake server is in this process: its CPU is the generator's too,
	// which is enough to see each phase read.
	res, err := RunAPI(t.Context(), APIConfig{Target: f.srv.URL, Users: 4, Duration: 400 * time.Millisecond,
		Baseline: true, BareCommand: pipeChild(t, RunAPIBare), ServerPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	a := res.APIResult
	var names []string
	for _, p := range a.Phases {
		names = append(names, p.Phase)
		if p.PerS <= 0 || p.ServerUSPerReq <= 0 || p.ServerCores <= 0 || p.GeneratorUSPerReq <= 0 || p.GeneratorCores <= 0 {
			t.Errorf("phase %+v: want throughput and both sides' CPU", p)
		}
	}
	if b := a.Phases[2].BodyBytesPerReq; b != float64(len(`{"data":[]}`)) {
		t.Errorf("bare phase: %v body bytes a request, want the fake's 11", b)
	}
	if want := []string{"mix", "quotes", "bare", "mix_half", "bare_half"}; !slices.Equal(names, want) {
		t.Errorf("phases %v, want %v", names, want)
	}
	if a.MixToBareByCPU <= 0 {
		t.Errorf("mix/bare by CPU = %v", a.MixToBareByCPU)
	}
	var out strings.Builder
	if err := res.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server µs/req", "body B/req", "mix_half", "mix/bare by CPU"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table without %q:\n%s", want, out.String())
		}
	}
}

func TestRunAPIPinNeedsTheServer(t *testing.T) {
	_, err := RunAPI(t.Context(), APIConfig{Target: "http://127.0.0.1:1", Users: 1, Duration: time.Second, PinGenerator: []int{0}, PinServer: []int{1}})
	if err == nil || !strings.Contains(err.Error(), "--server-pid") {
		t.Errorf("err = %v, want a usage error naming --server-pid", err)
	}
}

func TestPhaseSaysWhenTheGeneratorSaturates(t *testing.T) {
	lr := loadResult{total: NewHistogram(), elapsed: time.Second, cpu0: cpuPoint{server: 1, gen: 1}, cpu1: cpuPoint{server: 1.5, gen: 1.95}}
	for range 1000 {
		lr.total.Record(time.Millisecond)
	}
	p := lr.phase("bare", 0, 1)
	if !p.GeneratorSaturated || p.ServerUSPerReq != 500 || p.GeneratorCores < 0.94 {
		t.Errorf("phase %+v: want the generator saturated, 500 µs/req of server", p)
	}
	r := &Result{APIResult: &APIResult{Phases: []APIPhase{p}}}
	r.notePhases()
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "generator's limit") {
		t.Errorf("notes %q", r.Notes)
	}
	if p := lr.phase("bare", 0, 2); p.GeneratorSaturated {
		t.Errorf("0.95 of 2 CPUs is not saturated: %+v", p)
	}
}
