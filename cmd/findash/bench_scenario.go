package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/findash/findash/internal/bench"
)

// scenarioFlags are the flags of `bench ws --scenario`.
type scenarioFlags struct {
	name              string
	steps             []float64
	repeats           int
	centrifugo        string
	centrifugoMetrics string
	centrifugoPID     int
	bare              bool
	noTarget          bool
}

func (f *scenarioFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "scenario", "", "run a named scenario on every system in turn: fanout, fanin or connect (see docs/benchmarks/ws.md)")
	fs.Float64SliceVar(&f.steps, "steps", nil, "publish rates of the scenario's steps, ticks/s in total (default: the scenario's)")
	fs.IntVar(&f.repeats, "repeats", 1, "run the scenario's steps on every system this many times")
	fs.StringVar(&f.centrifugo, "centrifugo", "", "base URL of a Centrifugo v6 server to run the scenario on too (API key in FINDASH_CENTRIFUGO_API_KEY)")
	fs.StringVar(&f.centrifugoMetrics, "centrifugo-metrics", "", "Centrifugo's Prometheus endpoint (host:port or URL; default: --centrifugo's /metrics)")
	fs.IntVar(&f.centrifugoPID, "centrifugo-pid", 0, "Centrifugo's process id, for its user and system CPU")
	fs.BoolVar(&f.bare, "bare", false, "also run the scenario on a bare WebSocket server (frames each tick once, writes it to every subscriber) started as a child process")
	fs.BoolVar(&f.noTarget, "no-target", false, "run the scenario on --centrifugo and --bare only")
}

// runScenario runs --scenario on the target (unless --no-target), on
// Centrifugo and on the bare server, and prints the comparison.
func runScenario(cmd *cobra.Command, f scenarioFlags, wsc bench.WSConfig, environ []string, apiKey string, asJSON bool, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	var systems []bench.System
	if !f.noTarget {
		systems = append(systems, bench.System{Name: "findash", Targets: wsc.Targets, Admins: wsc.Admins, PIDs: wsc.ServerPIDs, APIKey: apiKey, Proto: bench.ProtoFindash})
	}
	if f.centrifugo != "" {
		key := lookupEnv(environ, "FINDASH_CENTRIFUGO_API_KEY")
		if key == "" {
			return errors.New("--centrifugo: set its HTTP API key in FINDASH_CENTRIFUGO_API_KEY")
		}
		m := f.centrifugoMetrics
		if m == "" {
			m = strings.TrimRight(f.centrifugo, "/") + "/metrics"
		}
		sys := bench.System{Name: "centrifugo", Targets: []string{f.centrifugo}, Admins: []string{m}, APIKey: key, Proto: bench.ProtoCentrifugo}
		if f.centrifugoPID > 0 {
			sys.PIDs = []int{f.centrifugoPID}
		}
		systems = append(systems, sys)
	}
	if f.bare {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--bare: find own executable: %w", err)
		}
		b, err := startBare(ctx, exe, stderr)
		if err != nil {
			return err
		}
		defer b.stop()
		systems = append(systems, bench.System{Name: "bare", Targets: []string{b.url}, Admins: []string{b.url}, PIDs: []int{b.pid}, APIKey: "none", Proto: bench.ProtoFindash})
	}
	set := func(name string, v *int, x int) {
		if cmd.Flags().Changed(name) {
			*v = x
		}
	}
	sc := bench.ScenarioConfig{Name: f.name, Systems: systems, Repeats: f.repeats, Steps: f.steps,
		Procs: wsc.Procs, ChildCommand: wsc.ChildCommand, DialConcurrency: wsc.DialConcurrency, Progress: wsc.Progress,
		SubscribeAtConnect: wsc.SubscribeAtConnect}
	set("conns", &sc.Conns, wsc.Conns)
	set("symbols", &sc.Symbols, wsc.Symbols)
	set("subs-per-conn", &sc.SubsPerConn, wsc.SubsPerConn)
	set("ticks-per-post", &sc.TicksPerPost, wsc.TicksPerPost)
	set("post-workers", &sc.PostWorkers, wsc.PostWorkers)
	if cmd.Flags().Changed("duration") {
		sc.Duration = wsc.Duration
	}
	res, err := bench.RunScenario(ctx, sc)
	if err != nil {
		return err
	}
	if asJSON {
		return res.WriteJSON(stdout)
	}
	return res.WriteTable(stdout)
}

// bareChild is the bare baseline server running as a child process.
type bareChild struct {
	url  string
	pid  int
	stop func()
}

// startBare starts `exe bench ws-bare` and reads the URL it listens on.
func startBare(ctx context.Context, exe string, stderr io.Writer) (*bareChild, error) {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cmd := exec.CommandContext(cctx, exe, "bench", "ws-bare", "--addr", "127.0.0.1:0")
	cmd.Stderr = stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("--bare: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("--bare: %w", err)
	}
	stop := func() {
		cancel()
		cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadBytes('\n')
	var hello struct {
		URL string `json:"url"`
	}
	if err == nil {
		err = json.Unmarshal(line, &hello)
	}
	if err != nil || hello.URL == "" {
		stop()
		return nil, fmt.Errorf("--bare: the bare server did not say where it listens: %v", err)
	}
	return &bareChild{url: hello.URL, pid: cmd.Process.Pid, stop: stop}, nil
}
