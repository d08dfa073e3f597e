// Package procs adapts the Go runtime's parallelism (GOMAXPROCS) to the
// process's load: one P while the process uses under 0.6 of a core, every
// P the machine gives it as soon as it needs more (decision 0086).
//
// Why: with a second P idle, every goroutine hand-off wakes a thread to
// steal the readied goroutine, which the waker's own P then runs itself;
// the woken thread finds nothing, spins and sleeps again. A tick crosses
// about fifteen such hand-offs (HTTP handler, NATS client and server,
// the event log's consumers, the gateway's writers), so at low rates
// those futile wake-ups are much of findash's CPU: one tick per POST at
// 200 ticks/s to 100 clients costs 0.65–0.82 ms of CPU and 12.7 context
// switches per tick with two Ps, 0.49–0.63 ms and 7.9–8.3 with one
// (decision 0086; docs/benchmarks/ws.md, "Adaptive GOMAXPROCS"). Under
// load one P is not enough, so the controller gives the Ps back within
// one or two samples.
//
// It never imports other findash packages: it wraps the runtime and the
// process's CPU clock, and cmd/findash runs it as a service.
package procs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config tunes the controller; the zero value of a field takes its default.
type Config struct {
	// Interval is how often the process's CPU time is sampled (default
	// 100 ms): the longest a saturating burst runs on one P.
	Interval time.Duration
	// Up is the CPU use, in cores per P, above which the process gets every
	// P back (default 0.5): two samples in a row above it, or one above 0.9.
	Up float64
	// Down is the mean CPU use, in cores, over DownAfter at or below which
	// the process drops to one P (default 0.45). Two Ps spend more CPU on
	// the same load than one, so Down just under Up does not flap.
	Down float64
	// DownAfter is how long the use must stay low before dropping to one P
	// (default 2 s).
	DownAfter time.Duration
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.Up <= 0 {
		c.Up = 0.75
	}
	if c.Down <= 0 {
		c.Down = 0.6
	}
	if c.DownAfter <= 0 {
		c.DownAfter = 2 * time.Second
	}
	return c
}

// Controller sets GOMAXPROCS from the process's CPU use. Run it as a
// service; it restores every P when it stops.
type Controller struct {
	cfg  Config
	max  int
	cpu  func() (time.Duration, error)
	log  *slog.Logger
	gau  prometheus.Gauge
	sets *prometheus.CounterVec
}

// New returns a controller that moves GOMAXPROCS between 1 and the
// runtime's value at the time of the call (its default, which follows the
// CPUs and the cgroup CPU limit, unless GOMAXPROCS was set).
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) *Controller {
	c := &Controller{
		cfg: cfg.withDefaults(),
		max: runtime.GOMAXPROCS(0),
		cpu: processCPU,
		log: log,
		gau: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_runtime_procs",
			Help: "The Go runtime's GOMAXPROCS: 1 while the process uses little CPU, the CPUs it may use under load (--adaptive-procs).",
		}),
		sets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_runtime_procs_changes_total",
			Help: "Changes of GOMAXPROCS by the adaptive controller (--adaptive-procs), by direction: up (load rose), down (load stayed low).",
		}, []string{"direction"}),
	}
	if log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.gau.Set(float64(c.max))
	if reg != nil {
		reg.MustRegister(c.gau, c.sets)
	}
	return c
}

// Disabled tells why the controller would do nothing here, or "" if it
// would work: GOMAXPROCS set in the environment (the operator's choice
// wins) or a single CPU.
func Disabled() string {
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		return "GOMAXPROCS is set in the environment (" + v + ")"
	}
	if runtime.GOMAXPROCS(0) < 2 {
		return "the process may use one CPU"
	}
	if _, err := processCPU(); err != nil {
		return err.Error()
	}
	return ""
}

// Run samples the process's CPU time every Interval and sets GOMAXPROCS
// until ctx ends, then gives every P back.
//
// Down is runtime.GOMAXPROCS(1); up is runtime.SetDefaultGOMAXPROCS, so at
// full parallelism the runtime again follows the CPUs and the cgroup's CPU
// limit by itself, and a limit changed while the load was low is in force
// at the next rise.
func (c *Controller) Run(ctx context.Context) error {
	if c.max < 2 {
		<-ctx.Done()
		return nil
	}
	last, err := c.cpu()
	if err != nil {
		return fmt.Errorf("adaptive procs: %w", err)
	}
	p := newPolicy(c.cfg, c.max)
	n := c.max
	defer func() {
		if n == 1 {
			c.up()
		}
	}()
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	var prev time.Time // the first tick only starts the wall clock
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			cpu, err := c.cpu()
			if err != nil {
				return fmt.Errorf("adaptive procs: %w", err)
			}
			wall := now.Sub(prev)
			used := float64(cpu-last) / float64(wall)
			first := prev.IsZero()
			last, prev = cpu, now
			if first || wall <= 0 {
				continue
			}
			if n > 1 {
				// The runtime's own updates may have moved it.
				n = runtime.GOMAXPROCS(0)
				p.most = n
			}
			next := p.next(n, used)
			switch {
			case next == n:
				continue
			case next == 1:
				runtime.GOMAXPROCS(1)
				c.sets.WithLabelValues("down").Inc()
			default:
				next = c.up()
				p.most = next
			}
			c.log.Debug("GOMAXPROCS changed", "from", n, "to", next, "cores_used", used)
			n = next
			c.gau.Set(float64(n))
		}
	}
}

// up gives the runtime back its default GOMAXPROCS, and returns it.
func (c *Controller) up() int {
	runtime.SetDefaultGOMAXPROCS()
	n := runtime.GOMAXPROCS(0)
	c.sets.WithLabelValues("up").Inc()
	c.gau.Set(float64(n))
	return n
}

// policy decides GOMAXPROCS from successive CPU-use samples (in cores).
type policy struct {
	cfg   Config
	most  int       // GOMAXPROCS under load
	above int       // consecutive samples above Up per P
	low   []float64 // the last DownAfter's samples, a ring
	pos   int       // the ring's next slot
	full  bool      // the ring has wrapped
}

func newPolicy(cfg Config, most int) *policy {
	n := max(1, int(cfg.DownAfter/cfg.Interval))
	return &policy{cfg: cfg, most: most, low: make([]float64, n)}
}

// next returns GOMAXPROCS after a sample of used cores taken while it was n.
// Up is immediate and to every P (latency first); down is to one P, once
// the mean over a whole DownAfter is at or below Down.
func (p *policy) next(n int, used float64) int {
	if used > p.cfg.Up*float64(n) {
		p.above++
	} else {
		p.above = 0
	}
	p.low[p.pos] = used
	p.pos++
	if p.pos == len(p.low) {
		p.pos, p.full = 0, true
	}
	if n < p.most && (p.above >= 2 || used > 0.9*float64(n)) {
		p.reset()
		return p.most
	}
	if n > 1 && p.full {
		var sum float64
		for _, u := range p.low {
			sum += u
		}
		if sum/float64(len(p.low)) <= p.cfg.Down {
			p.reset()
			return 1
		}
	}
	return n
}

// reset forgets the samples taken before a change: they were taken with
// another number of Ps.
func (p *policy) reset() {
	p.above, p.pos, p.full = 0, 0, false
}
