package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/bench"
	"github.com/findash/findash/internal/config"
)

// benchCommand is `findash bench ws|api|ingest` (docs/reference/cli.md): the built-in
// load generator, against --target or, with --self, an instance started in
// this process.
func benchCommand(environ []string, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "bench",
		Short: "Drive load at an instance: WebSocket fan-out (ws), REST API (api), ingest (ingest)",
		Long: `Drive load at an instance: WebSocket fan-out (ws), REST API (api), ingest (ingest).

Each mode drives the instance at --target, or with --self one it starts in
this process (temporary data dir, no feed, no rate limits), and prints a
table, or one JSON object with --json.`,
		Example: `  findash bench ws --self --conns 2000 --duration 20s
  FINDASH_API_KEY=$KEY findash bench api --target http://127.0.0.1:8080 --users 200`,
	}

	var (
		target, apiKey, admin string
		self, asJSON          bool
		duration              time.Duration
		cpuProfile            string
	)
	common := func(fs *pflag.FlagSet) {
		fs.StringVar(&target, "target", "http://127.0.0.1:8080", "base URL of the instance to drive (ws: a comma list of instances sharing one NATS spreads the clients and ticks over them)")
		fs.StringVar(&apiKey, "api-key", "", "API key for POST /api/v1/ticks [FINDASH_API_KEY]")
		fs.StringVar(&admin, "admin", "", "admin listener (host:port) of the target, for its RSS and CPU (ws: a comma list, one per instance)")
		fs.BoolVar(&self, "self", false, "start an instance in this process (temp data dir, no feed, no rate limits) and drive it")
		fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object (progress goes to stderr)")
		fs.DurationVar(&duration, "duration", 10*time.Second, "how long to drive load")
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the load generator (this process; ws --procs: each child to FILE.childN) to FILE, for go tool pprof")
	}
	// prepare resolves the API key and, with --self, starts the instance;
	// it returns the progress printer, the output and a stop function.
	prepare := func(cmd *cobra.Command) (*bench.Progress, func(), error) {
		if apiKey == "" {
			apiKey = lookupEnv(environ, "FINDASH_API_KEY")
		}
		var pw io.Writer = stdout
		if asJSON {
			pw = stderr
		}
		prog := bench.NewProgress(pw, isTTY(pw))
		stopProfile, err := startCPUProfile(cpuProfile)
		if err != nil {
			return nil, nil, err
		}
		stop := stopProfile
		if self {
			in, err := startSelf(cmd.Context(), stderr)
			if err != nil {
				stopProfile()
				return nil, nil, err
			}
			target, admin, apiKey = in.target, in.admin, in.apiKey
			stop = func() { in.stop(); stopProfile() }
			prog.Printf("started an instance in this process: %s (admin %s)", target, admin)
		}
		return prog, stop, nil
	}
	report := func(res *bench.Result, err error) error {
		if err != nil {
			return err
		}
		if asJSON {
			return res.WriteJSON(stdout)
		}
		return res.WriteTable(stdout)
	}

	var wsc bench.WSConfig
	var sources []string
	var sc scenarioFlags
	ws := &cobra.Command{
		Use:   "ws",
		Short: "Hold WebSocket clients on many symbols, drive ticks through ingest and measure the latency to each client",
		Long: `Hold WebSocket clients on many symbols, drive ticks through ingest and measure the latency to each client.

--conns clients spread over --symbols symbols, each subscribed to
--subs-per-conn of them; --rate ticks per second go in through
POST /api/v1/ticks (an API key is needed without --self), and every
delivery's ingest-to-client latency is recorded. The servers' CPU per
delivery (user and system apart with --server-pid), GC pauses and
goroutines are read over one window while the ticks flow, the window the
deliveries are counted in.

--scenario fanout|fanin|connect runs one of the side-by-side scenarios of
docs/benchmarks/ws.md on the target, on a Centrifugo server (--centrifugo,
its API key in FINDASH_CENTRIFUGO_API_KEY) and on a bare baseline server
started as a child process (--bare), in turn, --repeats times, and prints
each system's medians and spread and their ratios; --conns, --symbols,
--subs-per-conn, --ticks-per-post, --steps and --duration scale it down.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sc.name == "" && (sc.centrifugo != "" || sc.bare) {
				return errors.New("--centrifugo and --bare need --scenario (or, for Centrifugo alone, --proto centrifugo --target URL)")
			}
			prog, stop, err := prepare(cmd)
			if err != nil {
				return err
			}
			defer stop()
			for _, s := range sources {
				ip := net.ParseIP(strings.TrimSpace(s))
				if ip == nil {
					return fmt.Errorf("--sources: %q is not an IP address", s)
				}
				wsc.Sources = append(wsc.Sources, ip)
			}
			wsc.Targets, wsc.Admins = splitList(target), splitList(admin)
			wsc.APIKey, wsc.Duration, wsc.Progress = apiKey, duration, prog
			if wsc.Proto == bench.ProtoCentrifugo {
				wsc.APIKey = lookupEnv(environ, "FINDASH_CENTRIFUGO_API_KEY")
			}
			if wsc.Procs > 0 {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("--procs: find own executable: %w", err)
				}
				var n atomic.Int64
				wsc.ChildCommand = func(ctx context.Context) bench.Child {
					if cpuProfile == "" {
						return startChild(ctx, exe, stderr, "ws-child")
					}
					return startChild(ctx, exe, stderr, "ws-child", "--cpuprofile", fmt.Sprintf("%s.child%d", cpuProfile, n.Add(1)))
				}
			}
			if sc.name != "" {
				return runScenario(cmd, sc, wsc, environ, apiKey, asJSON, stdout, stderr)
			}
			return report(bench.RunWS(cmd.Context(), wsc))
		},
	}
	common(ws.Flags())
	ws.Flags().IntVar(&wsc.Conns, "conns", 1000, "WebSocket connections")
	ws.Flags().IntVar(&wsc.Symbols, "symbols", 100, "symbols the connections spread over")
	ws.Flags().IntVar(&wsc.SubsPerConn, "subs-per-conn", 1, "symbols each connection subscribes to")
	ws.Flags().Float64Var(&wsc.Rate, "rate", 1000, "ticks per second sent through the ingest API (in total)")
	ws.Flags().IntVar(&wsc.Procs, "procs", 0, "run the clients in this many child processes (each holds ≤ ~19,900 sockets); 0 = in this process")
	ws.Flags().StringSliceVar(&sources, "sources", nil, "local addresses to dial from, e.g. 127.0.0.2,127.0.0.3 (default: automatic)")
	ws.Flags().IntVar(&wsc.DialConcurrency, "dial-concurrency", 64, "dials in flight per process")
	ws.Flags().IntSliceVar(&wsc.ServerPIDs, "server-pid", nil, "process ids of the target's servers on this machine (a comma list, like --target): user and system CPU from /proc")
	ws.Flags().StringVar(&wsc.Proto, "proto", bench.ProtoFindash, "the target's client protocol: findash or centrifugo (its API key in FINDASH_CENTRIFUGO_API_KEY)")
	ws.Flags().IntVar(&wsc.TicksPerPost, "ticks-per-post", 2000, "most ticks per POST (1: every tick its own publish)")
	ws.Flags().IntVar(&wsc.PostWorkers, "post-workers", 8, "POSTs in flight")
	ws.Flags().DurationVar(&wsc.PostInterval, "post-interval", 5*time.Millisecond, "how often the ticks due are cut into POSTs (longer: fewer, fuller POSTs)")
	ws.Flags().BoolVar(&wsc.SubscribeAtConnect, "subscribe-at-connect", false, "subscribe each client in its handshake (/ws?subscribe=…) instead of with a subscribe message (findash and the bare server)")
	sc.register(ws.Flags())

	var apic bench.APIConfig
	var pin string
	api := &cobra.Command{
		Use:   "api",
		Short: "Send REST API reads from keep-alive users and measure their latency",
		Long: `Send REST API reads from keep-alive users and measure their latency.

--users users each hold one keep-alive connection and request a mix of
quotes, candles, symbols and movers: as soon as answered (closed loop), or
--rate requests per second in total on a schedule (open loop).

--procs N sends from N child processes (one holds at most the file limit's
connections), each to the next address of a comma-listed --target, and
merges their histograms. --baseline compares the mix with a bare net/http
handler, in a process of its own, serving /api/v1/quotes's bytes.

--server-pid reports the server's CPU per request in each phase (the bare
child's in the bare phases, the generator's own beside them), and --pin
0:1 runs the generator on CPU 0 and the server and the bare child on CPU 1,
so that the throughput ratio reads the servers' cost, not the generator's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prog, stop, err := prepare(cmd)
			if err != nil {
				return err
			}
			defer stop()
			apic.Target, apic.APIKey, apic.Duration, apic.Progress = target, apiKey, duration, prog
			if pin != "" {
				if self {
					return errors.New("--pin needs a server in its own process (--target and --server-pid), not --self")
				}
				if apic.PinGenerator, apic.PinServer, err = bench.ParsePin(pin); err != nil {
					return err
				}
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find own executable: %w", err)
			}
			apic.BareCommand = func(ctx context.Context) bench.Child { return startChild(ctx, exe, stderr, "api-bare") }
			if apic.Procs > 0 {
				apic.ChildCommand = func(ctx context.Context) bench.Child { return startChild(ctx, exe, stderr, "api-child") }
			}
			return report(bench.RunAPI(cmd.Context(), apic))
		},
	}
	common(api.Flags())
	api.Flags().IntVar(&apic.Users, "users", 100, "concurrent keep-alive users")
	api.Flags().Float64Var(&apic.Rate, "rate", 0, "requests per second the users send in total, each on a schedule (open loop); 0 = each sends as soon as answered (closed loop)")
	api.Flags().BoolVar(&apic.Baseline, "baseline", false, "also measure /api/v1/quotes alone and a bare net/http handler serving the same bytes")
	api.Flags().IntVar(&apic.Symbols, "symbols", 20, "symbols to seed when an API key is given")
	api.Flags().IntVar(&apic.Procs, "procs", 0, "generator processes for the mix, each with its share of --users and --rate (0: this one); --target may then list one address per process")
	api.Flags().IntVar(&apic.ServerPID, "server-pid", 0, "process id of the target's server on this machine: its CPU per request in each phase, from /proc")
	api.Flags().StringVar(&pin, "pin", "", "pin the generator and the servers (--server-pid, the bare child) to CPU lists GEN:SERVER; --pin alone is 0:1")
	api.Flags().Lookup("pin").NoOptDefVal = "0:1"

	var inc bench.IngestConfig
	ingest := &cobra.Command{
		Use:   "ingest",
		Short: "Post batches of ticks at a set or the highest rate and measure accepted ticks/s and time to visibility",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prog, stop, err := prepare(cmd)
			if err != nil {
				return err
			}
			defer stop()
			inc.Target, inc.APIKey, inc.Duration, inc.Progress = target, apiKey, duration, prog
			return report(bench.RunIngest(cmd.Context(), inc))
		},
	}
	common(ingest.Flags())
	ingest.Flags().Float64Var(&inc.Rate, "rate", 0, "ticks per second; 0 = as fast as the server answers")
	ingest.Flags().IntVar(&inc.BatchSize, "batch", 1000, "ticks per POST")
	ingest.Flags().IntVar(&inc.Workers, "workers", 8, "POSTs in flight")
	ingest.Flags().IntVar(&inc.Symbols, "symbols", 100, "symbols the ticks spread over")

	child := &cobra.Command{
		Use:    "ws-child",
		Short:  "Run one child process of bench ws --procs (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("cpuprofile")
			stop, err := startCPUProfile(path)
			if err != nil {
				return err
			}
			defer stop()
			return bench.RunWSChild(cmd.Context(), stdin, stdout)
		},
	}
	child.Flags().String("cpuprofile", "", "write a CPU profile of this child to FILE")
	bare := &cobra.Command{
		Use:    "ws-bare",
		Short:  "Run the bare baseline server of bench ws --bare (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, _ := cmd.Flags().GetString("addr")
			return bench.RunBare(cmd.Context(), addr, stdout)
		},
	}
	bare.Flags().String("addr", "127.0.0.1:0", "listen address")
	apiChild := &cobra.Command{
		Use:    "api-child",
		Short:  "Run one child process of bench api --procs (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.RunAPIChild(cmd.Context(), stdin, stdout)
		},
	}
	apiBare := &cobra.Command{
		Use:    "api-bare",
		Short:  "Run the bare baseline handler of bench api --baseline (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.RunAPIBare(cmd.Context(), stdin, stdout)
		},
	}
	root.AddCommand(ws, api, ingest, child, bare, apiChild, apiBare)
	return root
}

// startCPUProfile starts a CPU profile of this process into path and
// returns what stops and writes it; an empty path profiles nothing.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// startChild starts `exe bench <sub> [args]` with pipes on stdin and stdout.
func startChild(ctx context.Context, exe string, stderr io.Writer, sub string, args ...string) bench.Child {
	cmd := exec.CommandContext(ctx, exe, append([]string{"bench", sub}, args...)...)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return bench.Child{Err: err}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return bench.Child{Err: err}
	}
	if err := cmd.Start(); err != nil {
		return bench.Child{Err: err}
	}
	return bench.Child{Stdin: in, Stdout: out, Wait: cmd.Wait}
}

// selfInstance is an instance started by --self.
type selfInstance struct {
	target, admin, apiKey string
	stop                  func()
}

// startSelf starts stage 1 in this process on loopback port 0, in a
// temporary data dir, with no feed and no rate limits, creates a user with
// an API key, and waits until it is ready. Its logs go to logw at error
// level only: at warn its access log would report every 503 of the
// readiness polling and any request the load drives into an error, in the
// middle of the bench's own output (failures are in the result).
func startSelf(ctx context.Context, logw io.Writer) (*selfInstance, error) {
	dir, err := os.MkdirTemp("", "findash-bench-")
	if err != nil {
		return nil, fmt.Errorf("--self: %w", err)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Flags(fs)
	err = fs.Parse([]string{"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", dir,
		"--feed", "none", "--log-format", "json", "--log-level", "error", "--shutdown-timeout", "10s",
		"--api-rate-limit", "0", "--ingest-rate-limit", "0", "--max-conns-per-ip", "0",
		// The load client shares this process's scheduler: GOMAXPROCS stays
		// as the runtime set it.
		"--adaptive-procs=false"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("--self: %w", err)
	}
	cfg, err := config.Load(fs, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("--self: %w", err)
	}
	key, err := createBenchKey(ctx, cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	started := make(chan addrs, 1)
	go func() { done <- serve(sctx, cfg, logw, func(a addrs) { started <- a }) }()
	stop := func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}
	var a addrs
	select {
	case a = <-started:
	case err := <-done:
		os.RemoveAll(dir)
		cancel()
		return nil, fmt.Errorf("--self: serve: %w", err)
	}
	in := &selfInstance{target: "http://" + a.HTTP, admin: a.Admin, apiKey: key, stop: stop}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(in.target + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("--self: the instance was not ready within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createBenchKey creates the bench user and an API key in cfg's store.
func createBenchKey(ctx context.Context, cfg config.Config) (string, error) {
	log := slog.New(slog.DiscardHandler)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return "", fmt.Errorf("--self: %w", err)
	}
	defer st.Close()
	svc := auth.NewService(st, argon2id.New(argon2id.DefaultParams, 1), auth.Config{TouchEvery: -1}, log)
	u, err := svc.CreateUser(ctx, "bench@localhost.localdomain", "")
	if err != nil {
		return "", fmt.Errorf("--self: create user: %w", err)
	}
	secret, _, err := svc.CreateAPIKey(ctx, u.ID, "bench")
	if err != nil {
		return "", fmt.Errorf("--self: create api key: %w", err)
	}
	return secret, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && config.IsTerminal(f)
}
