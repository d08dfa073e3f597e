package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress prints a live status line once a second: on a terminal one line
// rewritten in place, otherwise a plain line each time (logs stay readable).
type Progress struct {
	w   io.Writer
	tty bool

	mu    sync.Mutex
	phase string
	dirty bool // a TTY line is on screen without its newline
}

// NewProgress returns a Progress writing to w; tty says whether w is a
// terminal. A nil w prints nothing.
func NewProgress(w io.Writer, tty bool) *Progress { return &Progress{w: w, tty: tty} }

// Start runs Run on a goroutine of its own, until the returned stop is
// called or ctx ends; stop ends it and waits for it to return.
func (p *Progress) Start(ctx context.Context, interval time.Duration, status func() string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx, interval, status)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Run calls status every interval and prints its line, prefixed by the
// current phase and the elapsed time, until ctx ends; then it ends the line.
func (p *Progress) Run(ctx context.Context, interval time.Duration, status func() string) {
	if p == nil || p.w == nil {
		<-ctx.Done()
		return
	}
	t0 := time.Now()
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			if p.dirty {
				fmt.Fprintln(p.w)
				p.dirty = false
			}
			p.mu.Unlock()
			return
		case <-tk.C:
			p.print(fmt.Sprintf("%5.1fs %s", time.Since(t0).Seconds(), status()))
		}
	}
}

// Phase sets the phase shown at the start of each line, and prints it as a
// line of its own.
func (p *Progress) Phase(name string) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	p.phase = name
	p.mu.Unlock()
	p.print("")
}

func (p *Progress) print(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := "[" + p.phase + "]"
	if s != "" {
		line += " " + s
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.dirty = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// Printf prints a message on a line of its own.
func (p *Progress) Printf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dirty {
		fmt.Fprintln(p.w)
		p.dirty = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
