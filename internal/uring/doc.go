// Package uring sends many buffers to many sockets with one system call:
// a minimal io_uring ring (Linux) that carries IORING_OP_SEND operations
// only, for the WebSocket writer pool (decision 0087). On this project's
// machines a system call costs ~2.4 µs of entry and exit alone, and a
// fan-out makes one write per delivery; a batch of sends costs one
// io_uring_enter.
//
// Every send is non-blocking (MSG_DONTWAIT): it completes within the call,
// with the bytes sent or an errno (EAGAIN when the socket has no room), as
// write(2) on a non-blocking socket would. Send waits for every completion
// before it returns, so a batch never outlives its buffers.
//
// No io_uring library is served by this project's module proxy (giouring,
// iouring-go, go-uring and gouring were refused), and x/sys/unix has the
// system call numbers only; the ring is short, and its layout is the
// kernel's ABI (include/uapi/linux/io_uring.h).
//
// The package imports only the standard library; it knows nothing of
// findash and must not import any of its packages.
package uring
