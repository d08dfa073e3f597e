package bench

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"
)

// Scenarios of `bench ws --scenario` (issue 14's side-by-side runs).
const (
	// ScenarioFanout: 10,000 connections over 100 channels, one each, one
	// tick per publish (each delivery its own message), the publish rate
	// stepped to find the highest with p99 < 100 ms and the saturation.
	ScenarioFanout = "fanout"
	// ScenarioFanin: 1,000 connections each on all 100 channels, 10 ticks
	// per publish request, stepped likewise.
	ScenarioFanin = "fanin"
	// ScenarioConnect: a burst of connects, each subscribing to one
	// channel: connects/s and server CPU per connection, beside bare TCP
	// dials/s.
	ScenarioConnect = "connect"
)

// System is one server a scenario runs on: findash, Centrifugo or the bare
// baseline.
type System struct {
	Name    string   // as reported, e.g. findash, centrifugo, bare
	Targets []string // public base URLs
	Admins  []string // metrics listeners (host:port or URL), optional
	PIDs    []int    // process ids for user/system CPU, optional
	APIKey  string
	Proto   string // ProtoFindash or ProtoCentrifugo
}

// ScenarioConfig configures RunScenario. Zero sizes take the scenario's.
type ScenarioConfig struct {
	Name    string
	Systems []System
	// Repeats runs every system's steps this many times, the systems in
	// turn within each repeat (default 1).
	Repeats int
	// Steps are the publish rates, ticks/s in total (fanout, fanin).
	Steps                                                  []float64
	Conns, Symbols, SubsPerConn, TicksPerPost, PostWorkers int
	Duration                                               time.Duration
	Procs, DialConcurrency                                 int
	// SubscribeAtConnect: the findash-protocol systems (findash, bare)
	// subscribe in the handshake (see WSConfig).
	SubscribeAtConnect bool
	ChildCommand       func(ctx context.Context) Child
	Progress           *Progress
}

// scenarioDefaults are the sizes of each scenario.
var scenarioDefaults = map[string]ScenarioConfig{
	ScenarioFanout:  {Conns: 10000, Symbols: 100, SubsPerConn: 1, TicksPerPost: 1, PostWorkers: 32, Steps: []float64{200, 400, 600, 800}},
	ScenarioFanin:   {Conns: 1000, Symbols: 100, SubsPerConn: 100, TicksPerPost: 10, PostWorkers: 16, Steps: []float64{300, 600, 1000, 1300}},
	ScenarioConnect: {Conns: 10000, Symbols: 100, SubsPerConn: 1},
}

// p99Limit is the latency under which a step counts as kept up with.
const p99Limit = 100.0 // ms

// ScenarioResult is every run of a scenario and its summary per system.
type ScenarioResult struct {
	Scenario string       `json:"scenario"`
	Repeats  int          `json:"repeats"`
	Runs     []StepRun    `json:"runs"`
	Summary  []SystemStat `json:"summary"`
	// DialPerS is the bare loopback TCP connects/s measured at the start
	// of each repeat.
	DialPerS []float64 `json:"dial_per_s,omitempty"`
	// DialCPUUS is, per repeat, the generator's CPU µs per bare dial:
	// both ends of a loopback TCP connect, accept and close, in this
	// process — what a connection costs the machine before any HTTP.
	DialCPUUS []float64 `json:"dial_cpu_us,omitempty"`
	Machine   Machine   `json:"machine"`
	Notes     []string  `json:"notes,omitempty"`
}

// StepRun is one system's run at one step of one repeat.
type StepRun struct {
	System string  `json:"system"`
	Repeat int     `json:"repeat"`
	Rate   float64 `json:"rate"` // ticks/s asked; 0 for connect
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Spread is the median, lowest and highest of a measure over the repeats.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

func spreadOf(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// StepStat summarises one system at one step over the repeats.
type StepStat struct {
	Rate              float64 `json:"rate"`
	DeliveriesPerS    Spread  `json:"deliveries_per_s"` // of the measurement window
	P99MS             Spread  `json:"p99_ms"`
	CPUPerDeliveryUS  Spread  `json:"cpu_per_delivery_us"`
	UserPerDeliveryUS Spread  `json:"user_per_delivery_us"`
	SysPerDeliveryUS  Spread  `json:"sys_per_delivery_us"`
	GCPauseP99MS      Spread  `json:"gc_pause_p99_ms"`
	GoroutinesMax     Spread  `json:"goroutines_max"`
	// ClientCPUPerDeliveryUS is the load client's own CPU per delivery
	// in the window (see WSResult).
	ClientCPUPerDeliveryUS Spread `json:"client_cpu_per_delivery_us"`
	Lossy                  int    `json:"lossy_runs"` // runs with gaps or drops
}

// SystemStat summarises one system over the repeats.
type SystemStat struct {
	System string     `json:"system"`
	Steps  []StepStat `json:"steps,omitempty"`
	// HighestOK is, per repeat, the deliveries/s of the highest step with
	// p99 < 100 ms and no gap or drop (0 when none).
	HighestOK Spread `json:"highest_ok_deliveries_per_s"`
	// Saturation is, per repeat, the most deliveries/s of any step.
	Saturation Spread `json:"saturation_deliveries_per_s"`
	// Connect scenario.
	ConnectPerS     Spread `json:"connect_per_s"`
	CPUPerConnUS    Spread `json:"cpu_per_conn_us"`
	UserPerConnUS   Spread `json:"user_per_conn_us"`
	SysPerConnUS    Spread `json:"sys_per_conn_us"`
	RSSPerConnBytes Spread `json:"rss_per_conn_bytes"`
	// ClientCPUPerConnUS is the load client's own CPU per connection.
	ClientCPUPerConnUS Spread `json:"client_cpu_per_conn_us"`
}

// RunScenario runs a named scenario on every system, Repeats times, the
// systems in turn within a repeat so that drift in the machine's load
// spreads over all of them, and summarises.
func RunScenario(ctx context.Context, cfg ScenarioConfig) (*ScenarioResult, error) {
	def, ok := scenarioDefaults[cfg.Name]
	if !ok {
		return nil, fmt.Errorf("%w: scenario %q: want %s, %s or %s", ErrUsage, cfg.Name, ScenarioFanout, ScenarioFanin, ScenarioConnect)
	}
	if len(cfg.Systems) == 0 {
		return nil, fmt.Errorf("%w: no system to run the scenario on", ErrUsage)
	}
	pick := func(v, d int) int {
		if v > 0 {
			return v
		}
		return d
	}
	cfg.Conns, cfg.Symbols = pick(cfg.Conns, def.Conns), pick(cfg.Symbols, def.Symbols)
	cfg.SubsPerConn, cfg.TicksPerPost = pick(cfg.SubsPerConn, def.SubsPerConn), pick(cfg.TicksPerPost, def.TicksPerPost)
	cfg.PostWorkers, cfg.Repeats = pick(cfg.PostWorkers, def.PostWorkers), pick(cfg.Repeats, 1)
	if cfg.SubsPerConn > cfg.Symbols {
		cfg.SubsPerConn = cfg.Symbols
	}
	if len(cfg.Steps) == 0 {
		cfg.Steps = def.Steps
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	steps := cfg.Steps
	if cfg.Name == ScenarioConnect {
		steps = []float64{0}
	}
	res := &ScenarioResult{Scenario: cfg.Name, Repeats: cfg.Repeats}
	prog := cfg.Progress
	for rep := range cfg.Repeats {
		prog.Phase(fmt.Sprintf("repeat %d/%d: bare TCP dials", rep+1, cfg.Repeats))
		if r, cpu, err := loopbackConnectCost(ctx, min(cfg.Conns, 5000), pick(cfg.DialConcurrency, 64), net.IPv4(127, 0, 0, 254)); err == nil {
			res.DialPerS = append(res.DialPerS, r)
			if cpu > 0 {
				res.DialCPUUS = append(res.DialCPUUS, cpu)
			}
		} else {
			res.Notes = append(res.Notes, err.Error())
		}
		for _, sys := range cfg.Systems {
			for _, rate := range steps {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				prog.Printf("repeat %d/%d, %s, %s", rep+1, cfg.Repeats, sys.Name, stepName(cfg.Name, rate))
				r, err := RunWS(ctx, WSConfig{
					Targets: sys.Targets, Admins: sys.Admins, ServerPIDs: sys.PIDs, APIKey: sys.APIKey, Proto: sys.Proto,
					Conns: cfg.Conns, Symbols: cfg.Symbols, SubsPerConn: cfg.SubsPerConn,
					Rate: rate, Duration: cfg.Duration, TicksPerPost: cfg.TicksPerPost, PostWorkers: cfg.PostWorkers,
					ConnectOnly: cfg.Name == ScenarioConnect, NoDialBaseline: true, SubscribeAtConnect: cfg.SubscribeAtConnect && sys.Proto != ProtoCentrifugo,
					Procs: cfg.Procs, ChildCommand: cfg.ChildCommand, DialConcurrency: cfg.DialConcurrency, Progress: prog,
				})
				run := StepRun{System: sys.Name, Repeat: rep + 1, Rate: rate, Result: r}
				if err != nil {
					run.Error = err.Error()
				}
				res.Runs = append(res.Runs, run)
				// Let the server close the connections of the run
				// before the next one connects.
				sleep(ctx, time.Second)
			}
		}
	}
	res.Summary = summarise(res.Runs, cfg.Systems, steps)
	res.Machine = ThisMachine()
	return res, nil
}

func stepName(scenario string, rate float64) string {
	if scenario == ScenarioConnect {
		return "connect burst"
	}
	return fmt.Sprintf("%.0f ticks/s", rate)
}

// summarise computes each system's spreads over the repeats.
func summarise(runs []StepRun, systems []System, steps []float64) []SystemStat {
	var out []SystemStat
	for _, sys := range systems {
		st := SystemStat{System: sys.Name}
		highest := map[int]float64{}
		sat := map[int]float64{}
		var conn, cpuc, userc, sysc, rss, client []float64
		for _, rate := range steps {
			var dps, p99, cpu, user, sysd, gc, gor, ccpu []float64
			lossy := 0
			for _, r := range runs {
				if r.System != sys.Name || r.Rate != rate || r.Result == nil || r.Result.WSResult == nil {
					continue
				}
				w := r.Result.WSResult
				if rate == 0 { // connect
					conn = append(conn, w.ConnectPerS)
					cpuc = append(cpuc, w.ServerCPUPerConnUS)
					userc = append(userc, w.ServerUserUSPerConn)
					sysc = append(sysc, w.ServerSysUSPerConn)
					rss = append(rss, w.ServerRSSPerConnBytes)
					if w.ClientCPUPerConnUS > 0 {
						client = append(client, w.ClientCPUPerConnUS)
					}
					continue
				}
				dps = append(dps, w.WindowDeliveriesPerS)
				p99 = append(p99, r.Result.P99MS)
				cpu = append(cpu, w.ServerCPUPerDeliveryUS)
				user = append(user, w.ServerUserUSPerDelivery)
				sysd = append(sysd, w.ServerSysUSPerDelivery)
				gc = append(gc, w.GCPauseP99MS)
				gor = append(gor, w.GoroutinesMax)
				if w.ClientCPUPerDeliveryUS > 0 {
					ccpu = append(ccpu, w.ClientCPUPerDeliveryUS)
				}
				ok := r.Result.P99MS < p99Limit && w.Gaps == 0 && r.Result.Drops == 0
				if !ok {
					lossy += boolInt(w.Gaps > 0 || r.Result.Drops > 0)
				}
				if ok {
					highest[r.Repeat] = max(highest[r.Repeat], w.WindowDeliveriesPerS)
				} else if _, seen := highest[r.Repeat]; !seen {
					highest[r.Repeat] = 0
				}
				sat[r.Repeat] = max(sat[r.Repeat], w.WindowDeliveriesPerS)
			}
			if rate == 0 || len(dps) == 0 {
				continue
			}
			st.Steps = append(st.Steps, StepStat{Rate: rate, DeliveriesPerS: spreadOf(dps), P99MS: spreadOf(p99),
				CPUPerDeliveryUS: spreadOf(cpu), UserPerDeliveryUS: spreadOf(user), SysPerDeliveryUS: spreadOf(sysd),
				GCPauseP99MS: spreadOf(gc), GoroutinesMax: spreadOf(gor), ClientCPUPerDeliveryUS: spreadOf(ccpu), Lossy: lossy})
		}
		st.HighestOK, st.Saturation = spreadOf(mapValues(highest)), spreadOf(mapValues(sat))
		st.ConnectPerS, st.CPUPerConnUS, st.UserPerConnUS, st.SysPerConnUS, st.RSSPerConnBytes =
			spreadOf(conn), spreadOf(cpuc), spreadOf(userc), spreadOf(sysc), spreadOf(rss)
		st.ClientCPUPerConnUS = spreadOf(client)
		out = append(out, st)
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mapValues(m map[int]float64) []float64 {
	out := make([]float64, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
