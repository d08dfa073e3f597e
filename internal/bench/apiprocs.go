package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// apiChildConfig is the one line a child of `bench api --procs` reads on
// stdin: its share of the users and of the rate, and the parent's symbols.
type apiChildConfig struct {
	Target  string        `json:"target"`
	Users   int           `json:"users"`
	First   int           `json:"first"` // the number of its first user
	Rate    float64       `json:"rate"`
	Dur     time.Duration `json:"dur"`
	Symbols []string      `json:"symbols"`
}

// apiChildEvent is one line a child writes on stdout: "ready" once its
// users are ready to send, "done" with its histograms per route.
type apiChildEvent struct {
	Event    string                `json:"event"`
	Routes   map[string]*Histogram `json:"routes,omitempty"`
	Errors   map[string]int64      `json:"errors,omitempty"`
	ElapsedS float64               `json:"elapsed_s,omitempty"`
	FirstErr string                `json:"first_error,omitempty"`
}

// RunAPIChild is the body of a child process of `bench api --procs`: it
// reads its configuration from stdin, opens its users' connections, says
// "ready", waits for the line "start", runs the mix, and reports its
// histograms ("done"). EOF on stdin before "start" ends it without a run.
func RunAPIChild(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("bench api child: read configuration: %w", err)
	}
	var cc apiChildConfig
	if err := json.Unmarshal(line, &cc); err != nil {
		return fmt.Errorf("bench api child: configuration: %w", err)
	}
	if cc.Users <= 0 || cc.Dur <= 0 || len(cc.Symbols) == 0 {
		return fmt.Errorf("bench api child: %w: users, duration and symbols are required", ErrUsage)
	}
	if _, err := RaiseFileLimit(); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	client := newLoadClient(cc.Users)
	defer client.CloseIdleConnections()
	var gateErr error
	gate := func() bool {
		if gateErr = enc.Encode(apiChildEvent{Event: "ready"}); gateErr != nil {
			return false
		}
		l, err := in.ReadString('\n')
		if err != nil || l != "start\n" {
			gateErr = fmt.Errorf("bench api child: waiting for start: got %q: %w", l, err)
			return false
		}
		return true
	}
	l := load{users: cc.Users, rate: cc.Rate, dur: cc.Dur, first: cc.First, gate: gate}
	lr := runLoad(ctx, client, strings.TrimRight(cc.Target, "/"), l, apiMix, cc.Symbols, nil)
	if gateErr != nil {
		return gateErr
	}
	ev := apiChildEvent{Event: "done", Routes: map[string]*Histogram{}, Errors: map[string]int64{},
		ElapsedS: lr.elapsed.Seconds(), FirstErr: lr.firstErr}
	for name, a := range lr.routes {
		ev.Routes[name] = a.hist
		ev.Errors[name] = a.errors.Load()
	}
	// Errors opening a connection count in no route: carried as "".
	var routeErrs int64
	for _, n := range ev.Errors {
		routeErrs += n
	}
	ev.Errors[""] = lr.errors - routeErrs
	if err := enc.Encode(ev); err != nil {
		return fmt.Errorf("bench api child: report: %w", err)
	}
	return nil
}

// runProcLoad runs the mix from procs child processes, each with its share
// of the users and of the rate, against targets[i % len(targets)] (several
// targets: each process its own destination address, so that no (source,
// destination) pair runs out of ephemeral ports), all started at once once
// every child is ready, and merges their histograms (the percentiles of
// the whole run, not averages of each process's).
func runProcLoad(ctx context.Context, start func(context.Context) Child, targets []string, procs int, l load, symbols []string, prog *Progress) (loadResult, error) {
	lr := loadResult{routes: make(map[string]*routeAgg), total: NewHistogram()}
	for _, r := range apiMix {
		lr.routes[r.name] = &routeAgg{hist: NewHistogram()}
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type child struct {
		c      Child
		events chan apiChildEvent
	}
	children := make([]child, 0, procs)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before wg.Wait: a child still running is killed
	for i := range procs {
		users := l.users / procs
		first := i * users
		if i == procs-1 {
			users = l.users - first
		}
		c := start(cctx)
		if c.Err != nil {
			return lr, fmt.Errorf("start bench api child %d: %w", i, c.Err)
		}
		ch := child{c: c, events: make(chan apiChildEvent, 2)}
		children = append(children, ch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch.events)
			sc := bufio.NewScanner(c.Stdout)
			sc.Buffer(make([]byte, 64<<10), 64<<20)
			for sc.Scan() {
				var e apiChildEvent
				if json.Unmarshal(sc.Bytes(), &e) == nil {
					ch.events <- e // at most two events: ready, done
				}
			}
			c.Wait()
		}()
		cfg := apiChildConfig{Target: targets[i%len(targets)], Users: users, First: first,
			Rate: l.rate * float64(users) / float64(l.users), Dur: l.dur, Symbols: symbols}
		b, _ := json.Marshal(cfg) // plain data always marshals
		if _, err := c.Stdin.Write(append(b, '\n')); err != nil {
			return lr, fmt.Errorf("configure bench api child %d: %w", i, err)
		}
	}
	wait := func(i int, want string) (apiChildEvent, error) {
		select {
		case e, ok := <-children[i].events:
			if !ok || e.Event != want {
				return e, fmt.Errorf("bench api child %d ended before %q (see its stderr)", i, want)
			}
			return e, nil
		case <-ctx.Done():
			return apiChildEvent{}, ctx.Err()
		}
	}
	prog.Phase(fmt.Sprintf("mix: %d processes opening %d connections", procs, l.users))
	for i := range children {
		if _, err := wait(i, "ready"); err != nil {
			return lr, err
		}
	}
	for i, ch := range children {
		if _, err := io.WriteString(ch.c.Stdin, "start\n"); err != nil {
			return lr, fmt.Errorf("start bench api child %d: %w", i, err)
		}
	}
	prog.Phase(fmt.Sprintf("mix: %d processes, %s", procs, l.dur))
	for i, ch := range children {
		e, err := wait(i, "done")
		if err != nil {
			return lr, err
		}
		ch.c.Stdin.Close()
		for name, h := range e.Routes {
			if a := lr.routes[name]; a != nil {
				a.hist.Merge(h)
			}
		}
		for name, n := range e.Errors {
			if a := lr.routes[name]; a != nil {
				a.errors.Add(n)
			}
			lr.errors += n
		}
		if lr.firstErr == "" {
			lr.firstErr = e.FirstErr
		}
		// The processes ran the same window from the same start; the
		// longest (the last answers in) is the run's.
		lr.elapsed = max(lr.elapsed, time.Duration(e.ElapsedS*float64(time.Second)))
	}
	for _, a := range lr.routes {
		lr.total.Merge(a.hist)
	}
	return lr, nil
}
