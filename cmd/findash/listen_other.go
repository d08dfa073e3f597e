//go:build !linux

package main

import (
	"context"
	"net"
)

// listenTCP listens on addr for the public listener; Go sets TCP
// keep-alive on each accepted socket (listen_linux.go sets it once).
func listenTCP(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}
