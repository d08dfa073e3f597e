// Package procs adapts the Go runtime's parallelism (GOMAXPROCS) to the
// process's load: one P while the process uses half a core or less, every
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
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config tunes the controller; the zero value of a field takes its default.
type Config struct {
	// Interval is how often the process's CPU time is sampled (default
	// 100 ms).
	Interval time.Duration
	// Up is the CPU use, in cores per P, above which the process gets every
	// P back (default 0.6): two samples in a row above it, or one above
	// 0.9. At one P, goroutines that waited Wait or longer to run in two
	// samples in a row do the same: a host that starves the process keeps
	// its use low while its work queues.
	Up float64
	// Wait is the scheduling delay that counts as queued work at one P
	// (default 10 ms: the runtime preempts a goroutine after 10 ms).
	Wait time.Duration
	// Down is the mean CPU use, in cores, over DownAfter at or below which
	// the process drops to one P (default 0.5). Two Ps spend more CPU on
	// the same load than one, so Down under Up does not flap.
	Down float64
	// DownAfter is how long the use must stay low before dropping to one P
	// (default 2 s). It doubles, up to MaxDownAfter, each time the load
	// comes back within two windows of a drop, and returns to DownAfter
	// after MaxDownAfter at one P.
	DownAfter time.Duration
	// MaxDownAfter bounds DownAfter's doubling (default 1 min).
	MaxDownAfter time.Duration
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.Up <= 0 {
		c.Up = 0.6
	}
	if c.Wait <= 0 {
		c.Wait = 10 * time.Millisecond
	}
	if c.Down <= 0 {
		c.Down = 0.5
	}
	if c.DownAfter <= 0 {
		c.DownAfter = 2 * time.Second
	}
	if c.MaxDownAfter < c.DownAfter {
		c.MaxDownAfter = max(time.Minute, c.DownAfter)
	}
	return c
}

// claimed is held by the controller that is running: GOMAXPROCS is the
// process's, so a second controller (several instances in one process)
// waits instead of fighting the first.
var claimed atomic.Bool

// Controller sets GOMAXPROCS from the process's CPU use. Run it as a
// service; it restores the runtime's default when it stops.
type Controller struct {
	cfg  Config
	cpu  func() (time.Duration, error)
	log  *slog.Logger
	gau  prometheus.Gauge
	sets *prometheus.CounterVec
}

// New returns a controller that moves GOMAXPROCS between 1 and the
// runtime's default (the CPUs and the cgroup CPU limit).
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) *Controller {
	c := &Controller{
		cfg: cfg.withDefaults(),
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
	c.gau.Set(float64(runtime.GOMAXPROCS(0)))
	if reg != nil {
		reg.MustRegister(c.gau, c.sets)
	}
	return c
}

// Disabled tells why the controller would do nothing here, or "" if it
// would work: GOMAXPROCS set in the environment (the operator's choice
// wins), a single CPU, or no process CPU clock.
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
// until ctx ends, then gives the runtime its default back. It never fails
// the instance: if the CPU clock fails, it logs, restores and stops
// adapting.
//
// Down is runtime.GOMAXPROCS(1); up is runtime.SetDefaultGOMAXPROCS, so at
// full parallelism the runtime again follows the CPUs and the cgroup's CPU
// limit by itself, and a limit changed while the load was low is in force
// at the next rise. Both wait for a GC cycle under way to end.
func (c *Controller) Run(ctx context.Context) error {
	if why := Disabled(); why != "" {
		// SetDefaultGOMAXPROCS would override the operator's GOMAXPROCS.
		c.log.Info("adaptive GOMAXPROCS off", "why", why)
		<-ctx.Done()
		return nil
	}
	if !claimed.CompareAndSwap(false, true) {
		c.log.Info("another adaptive GOMAXPROCS controller runs in this process; this one stays idle")
		<-ctx.Done()
		return nil
	}
	defer claimed.Store(false)
	set := runtime.GOMAXPROCS(0) // what the controller last saw or set
	defer func() {
		if set == 1 {
			c.up()
		}
	}()
	lat := newLatencies()
	last, err := c.cpu()
	if err != nil {
		c.log.Error("adaptive GOMAXPROCS stopped", "err", err)
		<-ctx.Done()
		return nil
	}
	prev := time.Now()
	p := newPolicy(c.cfg)
	ticks := 0
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cpu, err := c.cpu()
		now := time.Now() // beside the CPU clock: the tick's own time can be late
		if err != nil {
			if set == 1 {
				set = c.up()
			}
			c.log.Error("adaptive GOMAXPROCS stopped", "err", err)
			<-ctx.Done()
			return nil
		}
		wall := now.Sub(prev)
		used := float64(cpu-last) / float64(wall)
		last, prev = cpu, now
		waited := lat.waitedAtLeast(c.cfg.Wait)
		if ticks++; set > 1 && ticks%10 == 0 {
			// About once a second: apply a cgroup limit change the
			// runtime's own updater may have missed (it stops for good if
			// a change races a drop). Nothing stops the world when the
			// default is unchanged.
			runtime.SetDefaultGOMAXPROCS()
		}
		n := runtime.GOMAXPROCS(0)
		if n != set {
			// The runtime (a cgroup limit) or someone else moved it: start
			// over from there.
			set = n
			p.forget()
			c.gau.Set(float64(n))
			continue
		}
		if wall <= 0 {
			continue
		}
		switch p.next(n, used, waited, now) {
		case n:
			continue
		case 1:
			runtime.GOMAXPROCS(1)
			c.sets.WithLabelValues("down").Inc()
			c.gau.Set(1)
			set = 1
		default:
			if set = c.up(); set == n {
				continue // the default is one P now (an affinity mask)
			}
		}
		c.log.Debug("GOMAXPROCS changed", "from", n, "to", set, "cores_used", used)
	}
}

// up gives the runtime back its default GOMAXPROCS, and returns it; a
// change is counted only if there was one.
func (c *Controller) up() int {
	was := runtime.GOMAXPROCS(0)
	runtime.SetDefaultGOMAXPROCS()
	n := runtime.GOMAXPROCS(0)
	if n != was {
		c.sets.WithLabelValues("up").Inc()
	}
	c.gau.Set(float64(n))
	return n
}

// latencies reads the runtime's scheduling delays (/sched/latencies).
type latencies struct {
	s    []metrics.Sample
	prev []uint64
}

func newLatencies() *latencies {
	l := &latencies{s: []metrics.Sample{{Name: "/sched/latencies:seconds"}}}
	l.waitedAtLeast(0)
	return l
}

// waitedAtLeast is how many goroutines waited about d or longer to run
// since the last call (from the bucket holding d up). The runtime records
// one in eight scheduling events, so each counted wait stands for several.
func (l *latencies) waitedAtLeast(d time.Duration) uint64 {
	metrics.Read(l.s)
	if l.s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := l.s[0].Value.Float64Histogram()
	var n uint64
	for i, c := range h.Counts {
		if i < len(l.prev) && h.Buckets[i+1] > d.Seconds() {
			n += c - l.prev[i]
		}
	}
	l.prev = append(l.prev[:0], h.Counts...)
	return n
}

// policy decides GOMAXPROCS from successive samples.
type policy struct {
	cfg     Config
	above   int       // consecutive samples asking for more Ps
	low     []float64 // samples since the last change, a ring of MaxDownAfter
	pos     int       // the ring's next slot
	n       int       // samples in the ring
	window  int       // samples whose mean decides the drop: DownAfter, doubled on flaps
	downAt  time.Time // the last drop
	settled bool      // at one P for MaxDownAfter since the drop: window reset
}

func newPolicy(cfg Config) *policy {
	w := max(1, int(cfg.DownAfter/cfg.Interval))
	size := max(w, int(cfg.MaxDownAfter/cfg.Interval))
	return &policy{cfg: cfg, low: make([]float64, size), window: w}
}

// next returns GOMAXPROCS after a sample taken at now while it was n: used
// cores, and the goroutines that waited Wait or longer to run. Up is to
// every P (latency first), after two samples asking for it, or at once
// when the Ps are nearly full; down is to one P, once the mean over the
// window is at or below Down.
func (p *policy) next(n int, used float64, waited uint64, now time.Time) int {
	busy := used > p.cfg.Up*float64(n) || (n == 1 && waited > 0)
	if busy {
		p.above++
	} else {
		p.above = 0
	}
	p.low[p.pos] = used
	p.pos = (p.pos + 1) % len(p.low)
	p.n = min(p.n+1, len(p.low))
	if n == 1 {
		if !p.settled && now.Sub(p.downAt) >= p.cfg.MaxDownAfter {
			p.settled = true
			p.window = max(1, int(p.cfg.DownAfter/p.cfg.Interval))
		}
		if p.above >= 2 || used > 0.9 {
			if now.Sub(p.downAt) < 2*time.Duration(p.window)*p.cfg.Interval {
				// Back within two windows of the drop: wait longer next time.
				p.window = min(2*p.window, len(p.low))
			}
			p.forget()
			return 2 // any number above one: the runtime's default
		}
		return 1
	}
	if p.n >= p.window {
		var sum float64
		for i := 1; i <= p.window; i++ {
			sum += p.low[(p.pos-i+len(p.low))%len(p.low)]
		}
		if sum/float64(p.window) <= p.cfg.Down {
			p.forget()
			p.downAt, p.settled = now, false
			return 1
		}
	}
	return n
}

// forget drops the samples taken before a change: they were taken with
// another number of Ps.
func (p *policy) forget() {
	p.above, p.pos, p.n = 0, 0, 0
}
