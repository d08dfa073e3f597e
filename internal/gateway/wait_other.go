//go:build !unix

package gateway

import "syscall"

// waitReadable does nothing where peeking a socket is not available: the
// reader then blocks in its read.
func waitReadable(syscall.RawConn) error { return nil }
