//go:build unix

package gateway

import "syscall"

// waitReadable blocks until the socket has data (or an error, or EOF, or the
// read deadline passes) without reading it. It peeks one byte, so it never
// waits for data that has already arrived; the stack below the caller stays
// a few frames deep while it waits.
func waitReadable(rc syscall.RawConn) error {
	var b [1]byte
	return rc.Read(func(fd uintptr) bool {
		for {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
			if err != syscall.EINTR {
				return err != syscall.EAGAIN
			}
		}
	})
}
