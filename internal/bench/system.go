package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// RaiseFileLimit raises the soft limit on open files to the hard limit and
// returns the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("get open-file limit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("raise open-file limit: %w", err)
		}
	}
	return l.Cur, nil
}

// loopbackConnectRate measures bare TCP connects per second on loopback
// with the given concurrency: the ceiling any WebSocket connect rate on
// this machine is under. Connections come from src (nil = kernel's choice)
// and are closed at once; the listener accepts and closes.
func loopbackConnectRate(ctx context.Context, n, concurrency int, src net.IP) (float64, error) {
	r, _, err := loopbackConnectCost(ctx, n, concurrency, src)
	return r, err
}

// loopbackConnectCost is loopbackConnectRate that also returns this
// process's CPU µs per connection over the run: both ends of a bare TCP
// connect, accept and close (0 when /proc cannot be read).
func loopbackConnectCost(ctx context.Context, n, concurrency int, src net.IP) (float64, float64, error) {
	c0, err0 := readProcCPU(os.Getpid())
	rate, err := dialLoopback(ctx, n, concurrency, src)
	c1, err1 := readProcCPU(os.Getpid())
	if err != nil || err0 != nil || err1 != nil {
		return rate, 0, err
	}
	return rate, (c1.UserS + c1.SysS - c0.UserS - c0.SysS) * 1e6 / float64(n), nil
}

func dialLoopback(ctx context.Context, n, concurrency int, src net.IP) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("loopback baseline: %w", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	t0 := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					continue
				}
				c.Close()
			}
		}()
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("loopback baseline: %w", firstErr)
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// isLoopback reports whether host (a name or address) is on loopback.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// connsPerSource is how many connections the generator opens from one
// loopback source address. The kernel looks for a free ephemeral port by
// walking the range and probing the established-connection hash; with
// ~19,000 connections from one address to one port the walk made
// connect(2) 42 % of the machine's CPU (perf, __inet_check_established) and
// halved the connect rate. A few thousand per address keeps the walk short.
const connsPerSource = 2000

// loopbackSources returns the source addresses for conns connections to an
// IPv4 loopback target: 127.0.0.2, 127.0.0.3, … one per connsPerSource
// connections and at least atLeast (one per child process, so that none
// shares another's), at most 250 (Linux routes all of 127/8 to lo).
func loopbackSources(conns, atLeast int) []net.IP {
	n := min(max(1, atLeast, (conns+connsPerSource-1)/connsPerSource), 250)
	out := make([]net.IP, n)
	for i := range out {
		out[i] = net.IPv4(127, 0, 0, byte(2+i))
	}
	return out
}
