//go:build unix

package gateway

import (
	"sync"
	"syscall"
)

// waitReadable blocks until the socket has data (or an error, or EOF, or the
// read deadline passes) without reading it. It peeks one byte, so it never
// waits for data that has already arrived; the stack below the caller stays
// a few frames deep while it waits.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(peek)
}

// peek is waitReadable's check, a function of its own: a closure over the
// byte it peeks into cost an allocation per wait, that is per connect and
// per client message (issue 14).
func peek(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		if err != syscall.EINTR {
			return err != syscall.EAGAIN
		}
	}
}

// readNow reads what the socket holds into p with one read(2) that does not
// wait; n is 0 when it holds nothing, or on an error or EOF, which the
// caller's next (waiting) read meets again.
func readNow(rc syscall.RawConn, p []byte) int {
	r := nowReadPool.Get().(*nowRead)
	r.p = p
	_ = rc.Read(r.fn)
	n := r.n
	r.p, r.n = nil, 0
	nowReadPool.Put(r)
	return n
}

// nowReadPool holds readNow's state and the function RawConn.Read calls,
// made once per pooled value: a closure over p and n cost two allocations
// per connect.
var nowReadPool = sync.Pool{New: func() any {
	r := &nowRead{}
	r.fn = r.read
	return r
}}

type nowRead struct {
	p  []byte
	n  int
	fn func(fd uintptr) bool
}

func (r *nowRead) read(fd uintptr) bool {
	for {
		m, err := syscall.Read(int(fd), r.p)
		if err != syscall.EINTR {
			r.n = max(m, 0)
			return true // never wait: the caller waits, under its deadline
		}
	}
}
