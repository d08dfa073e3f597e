package main

import (
	"context"
	"net"
	"syscall"
)

// listenTCP listens on addr for the public listener. TCP keep-alive is set
// once on the listening socket, which every accepted socket inherits on
// Linux, with Go's defaults (15 s idle, 15 s between probes, 9 probes):
// Go would otherwise set it on each accepted socket, four setsockopt(2)
// calls per connection, 12 % of the server's CPU in a connect burst
// (docs/benchmarks/ws.md). TestListenKeepAliveInherited checks the
// accepted sockets.
func listenTCP(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{
		KeepAlive: -1, // nothing per accepted socket: inherited, below
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				for _, o := range [][3]int{
					{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
					{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15},
					{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15},
					{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 9},
				} {
					if serr = syscall.SetsockoptInt(int(fd), o[0], o[1], o[2]); serr != nil {
						return
					}
				}
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	return lc.Listen(ctx, "tcp", addr)
}
