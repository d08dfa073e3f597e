//go:build !unix

package gateway

import "syscall"

// waitReadable does nothing where peeking a socket is not available: the
// reader then blocks in its read.
func waitReadable(syscall.RawConn) error { return nil }

// readNow reads nothing where the socket is not reached: the caller reads
// under its deadline.
func readNow(syscall.RawConn, []byte) int { return 0 }
