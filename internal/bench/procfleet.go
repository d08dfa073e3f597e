package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Child is one started child process of `bench ws --procs`: its stdin
// takes the fleet configuration and then "stop", its stdout gives events
// (JSON lines, see childEvent). Wait waits for the process to exit.
type Child struct {
	Stdin  io.WriteCloser
	Stdout io.Reader
	Wait   func() error
	Err    error // set when the process could not be started
}

// childEvent is one line a child writes on stdout.
type childEvent struct {
	Event       string           `json:"event"` // ready, stats or done
	Stats       fleetStats       `json:"stats"`
	Subscribers map[string]int64 `json:"subscribers,omitempty"` // ready
	Connect     *Histogram       `json:"connect,omitempty"`     // ready
	Latency     *Histogram       `json:"latency,omitempty"`     // done
	Error       string           `json:"error,omitempty"`
}

// childConfig is the first line a child reads on stdin.
type childConfig struct {
	Fleet fleetConfig `json:"fleet"`
}

// RunWSChild is the body of a child process of `bench ws --procs`: it reads
// its share of the clients from stdin, connects them, reports "ready",
// reports its counters every 200 ms, and on "stop" (or EOF) closes the
// clients and reports "done" with its latency histogram.
func RunWSChild(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("bench child: read configuration: %w", err)
	}
	var cc childConfig
	if err := json.Unmarshal(line, &cc); err != nil {
		return fmt.Errorf("bench child: configuration: %w", err)
	}
	if _, err := RaiseFileLimit(); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	var encMu sync.Mutex
	emit := func(e childEvent) error {
		encMu.Lock()
		defer encMu.Unlock()
		return enc.Encode(e)
	}
	f := newLocalFleet(cc.Fleet)
	// Report the counters while connecting too: at 16,000 clients a share
	// takes from seconds to minutes, and the parent's progress would
	// otherwise show nothing until every child is ready.
	connecting := make(chan struct{})
	var cwg sync.WaitGroup
	cwg.Add(1)
	go func() {
		defer cwg.Done()
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				// The atomic counters only: connectTime is written when
				// connectAll returns.
				st := fleetStats{Connected: f.connected.Load(), Failed: f.failed.Load()}
				if emit(childEvent{Event: "stats", Stats: st}) != nil {
					return
				}
			case <-connecting:
				return
			}
		}
	}()
	f.connectAll(ctx)
	close(connecting)
	cwg.Wait()
	if err := emit(childEvent{Event: "ready", Stats: f.Stats(), Subscribers: f.Subscribers(), Connect: f.connect}); err != nil {
		f.Close()
		return fmt.Errorf("bench child: report: %w", err)
	}
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		for {
			l, err := in.ReadString('\n')
			if err != nil || l == "stop\n" {
				return
			}
		}
	}()
	tk := time.NewTicker(200 * time.Millisecond)
	defer tk.Stop()
	for done := false; !done; {
		select {
		case <-tk.C:
			if err := emit(childEvent{Event: "stats", Stats: withCPU(f.Stats())}); err != nil {
				done = true
			}
		case <-stop:
			done = true
		case <-ctx.Done():
			done = true
		}
	}
	st := withCPU(f.Stats())
	lat := f.Latency()
	f.Close()
	if err := emit(childEvent{Event: "done", Stats: st, Latency: lat}); err != nil {
		return fmt.Errorf("bench child: report: %w", err)
	}
	return nil
}

// withCPU sets s.CPUNano to this process's CPU time so far, for the
// parent's client CPU per delivery (left 0 when /proc cannot be read).
func withCPU(s fleetStats) fleetStats {
	if c, err := readProcCPU(os.Getpid()); err == nil {
		s.CPUNano = int64((c.UserS + c.SysS) * 1e9)
	}
	return s
}

// procFleet runs the clients in child processes and adds up what they
// report.
type procFleet struct {
	cfg   fleetConfig
	procs int
	start func(ctx context.Context) Child

	mu       sync.Mutex
	children []*childState
	subs     map[string]int64 // added up from the ready events
	connect  *Histogram       // merged from the ready events
}

type childState struct {
	c     Child
	stats fleetStats
	ready chan childEvent
	done  chan childEvent
	err   error
}

func newProcFleet(cfg fleetConfig, procs int, start func(ctx context.Context) Child) *procFleet {
	return &procFleet{cfg: cfg, procs: procs, start: start, subs: make(map[string]int64), connect: NewHistogram()}
}

// Connect starts the children, each with its share of the connections and
// sources, and waits until all are ready.
func (p *procFleet) Connect(ctx context.Context) error {
	for i := range p.procs {
		share := p.cfg.Conns / p.procs
		off := i * share
		if i == p.procs-1 {
			share = p.cfg.Conns - off
		}
		fc := p.cfg
		fc.Conns, fc.Offset = share, off
		if len(p.cfg.Sources) > 0 {
			fc.Sources = nil
			for j, s := range p.cfg.Sources {
				if j%p.procs == i {
					fc.Sources = append(fc.Sources, s)
				}
			}
			if len(fc.Sources) == 0 { // fewer sources than children: share
				fc.Sources = []net.IP{p.cfg.Sources[i%len(p.cfg.Sources)]}
			}
		}
		c := p.start(ctx)
		if c.Err != nil {
			return fmt.Errorf("start bench child %d: %w", i, c.Err)
		}
		cs := &childState{c: c, ready: make(chan childEvent, 1), done: make(chan childEvent, 1)}
		p.mu.Lock()
		p.children = append(p.children, cs)
		p.mu.Unlock()
		b, _ := json.Marshal(childConfig{Fleet: fc}) // plain data always marshals
		if _, err := c.Stdin.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("configure bench child %d: %w", i, err)
		}
		go p.read(cs)
	}
	for i, cs := range p.children {
		select {
		case e, ok := <-cs.ready:
			if !ok {
				return fmt.Errorf("bench child %d exited before it was ready: %v", i, cs.err)
			}
			_ = e
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// read follows one child's events until its stdout closes.
func (p *procFleet) read(cs *childState) {
	defer close(cs.done)
	sc := bufio.NewScanner(cs.c.Stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	readySent := false
	defer func() {
		if !readySent {
			close(cs.ready)
		}
	}()
	for sc.Scan() {
		var e childEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			p.mu.Lock()
			cs.err = fmt.Errorf("bench child said %q: %w", sc.Bytes(), err)
			p.mu.Unlock()
			continue
		}
		p.mu.Lock()
		cs.stats = e.Stats
		p.mu.Unlock()
		switch e.Event {
		case "ready":
			p.mu.Lock()
			for sym, n := range e.Subscribers {
				p.subs[sym] += n
			}
			if e.Connect != nil {
				p.connect.Merge(e.Connect)
			}
			p.mu.Unlock()
			if !readySent {
				readySent = true
				cs.ready <- e
				close(cs.ready)
			}
		case "done":
			cs.done <- e
			return
		}
	}
	if err := sc.Err(); err != nil {
		p.mu.Lock()
		cs.err = err
		p.mu.Unlock()
	}
}

// Stats adds up the children's latest counters.
func (p *procFleet) Stats() fleetStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s fleetStats
	for _, cs := range p.children {
		s.add(cs.stats)
	}
	return s
}

// Subscribers adds up the children's subscriptions (known once ready).
func (p *procFleet) Subscribers() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int64, len(p.subs))
	for s, n := range p.subs {
		m[s] = n
	}
	return m
}

// ConnectLatency merges the children's connect times (known once ready).
func (p *procFleet) ConnectLatency() *Histogram { return p.connect }

// Finish tells every child to stop and merges their final reports.
func (p *procFleet) Finish(ctx context.Context) (*Histogram, fleetStats, error) {
	lat := NewHistogram()
	var total fleetStats
	var firstErr error
	for i, cs := range p.children {
		io.WriteString(cs.c.Stdin, "stop\n")
		cs.c.Stdin.Close()
		select {
		case e, ok := <-cs.done:
			if ok {
				total.add(e.Stats)
				if e.Latency != nil {
					lat.Merge(e.Latency)
				}
			} else if firstErr == nil {
				firstErr = fmt.Errorf("bench child %d ended without a report: %v", i, cs.err)
			}
		case <-ctx.Done():
			return nil, total, ctx.Err()
		}
		if err := cs.c.Wait(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("bench child %d: %w", i, err)
		}
	}
	return lat, total, firstErr
}
