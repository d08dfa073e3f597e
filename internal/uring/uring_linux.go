package uring

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The kernel's ABI (include/uapi/linux/io_uring.h).
const (
	sysSetup = 425
	sysEnter = 426

	opSend = 26 // IORING_OP_SEND (Linux 5.6)

	setupSubmitAll   = 1 << 7 // IORING_SETUP_SUBMIT_ALL (5.18): an SQE's error does not stop the rest
	setupCoopTaskrun = 1 << 8 // IORING_SETUP_COOP_TASKRUN (5.19): no interrupt to post a completion

	enterGetEvents = 1 // IORING_ENTER_GETEVENTS

	featSingleMmap = 1 // IORING_FEAT_SINGLE_MMAP

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	sendFlags = syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL
)

type sqOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqOffsets
	cqOff                                                                  cqOffsets
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	msgFlags uint32
	userData uint64
	_        [3]uint64
}

// cqe is struct io_uring_cqe (16 bytes).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

var _ [64 - unsafe.Sizeof(sqe{})]struct{} // the ABI's sizes, checked at compile time
var _ [unsafe.Sizeof(sqe{}) - 64]struct{}
var _ [16 - unsafe.Sizeof(cqe{})]struct{}

// Ring is one io_uring instance. It is not safe for concurrent use: one
// goroutine sends at a time (the writer pool's shard that owns it).
type Ring struct {
	fd      int
	entries int
	maps    [][]byte // unmapped by Close

	sqTail *uint32
	sqMask uint32
	sqes   []sqe
	cqHead *uint32
	cqTail *uint32
	cqMask uint32
	cqes   []cqe
	gen    uint32 // the current Send's number, in its CQEs' userData
	closed bool
}

// New sets up a ring for up to entries sends per Send (rounded up to a
// power of two by the kernel). It fails where the kernel has no io_uring,
// or forbids it (io_uring_disabled, a seccomp profile: container runtimes'
// defaults refuse it), or lacks IORING_OP_SEND; the caller then writes
// with write(2).
func New(entries int) (*Ring, error) {
	if entries < 1 || entries > 4096 {
		return nil, fmt.Errorf("uring: %d entries: want 1..4096", entries)
	}
	var p params
	p.flags = setupSubmitAll | setupCoopTaskrun
	fd, _, errno := syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno == syscall.EINVAL { // a kernel older than 5.19: without the flags
		p = params{}
		fd, _, errno = syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	if errno != 0 {
		return nil, fmt.Errorf("uring: io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd), entries: int(p.sqEntries)}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.probeSend(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Ring) mmap(off int64, size uint32) ([]byte, error) {
	b, err := syscall.Mmap(r.fd, off, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("uring: mmap: %w", err)
	}
	r.maps = append(r.maps, b)
	return b, nil
}

func (r *Ring) mapRings(p *params) error {
	sqSize := p.sqOff.array + p.sqEntries*4
	cqSize := p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{}))
	if p.features&featSingleMmap != 0 {
		sqSize = max(sqSize, cqSize)
	}
	sq, err := r.mmap(offSQRing, sqSize)
	if err != nil {
		return err
	}
	cq := sq
	if p.features&featSingleMmap == 0 {
		if cq, err = r.mmap(offCQRing, cqSize); err != nil {
			return err
		}
	}
	sqesMem, err := r.mmap(offSQEs, p.sqEntries*uint32(unsafe.Sizeof(sqe{})))
	if err != nil {
		return err
	}
	s, c := unsafe.Pointer(&sq[0]), unsafe.Pointer(&cq[0])
	r.sqTail = (*uint32)(unsafe.Add(s, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(s, p.sqOff.ringMask))
	// The SQ array maps ring slots to SQEs: slot i always holds SQE i.
	array := unsafe.Slice((*uint32)(unsafe.Add(s, p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&sqesMem[0])), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Add(c, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(c, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(c, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(c, p.cqOff.cqes)), p.cqEntries)
	return nil
}

// probeSend sends nothing to no socket: a kernel without IORING_OP_SEND
// completes it with EINVAL, one with it with EBADF.
func (r *Ring) probeSend() error {
	ops := []Op{{FD: -1}}
	if err := r.Send(ops); err != nil {
		return err
	}
	if ops[0].Err != syscall.EBADF {
		return fmt.Errorf("uring: IORING_OP_SEND unsupported (probe: %v)", ops[0].Err)
	}
	return nil
}

// Cap is the most sends one Send takes.
func (r *Ring) Cap() int { return r.entries }

// Send sends each op's Buf on its FD, all in one io_uring_enter, and sets
// each op's N and Err (the syscall.Errno a non-blocking send(2) would
// return; EAGAIN with N 0 when the socket had no room). The caller must
// hold the file descriptors open until Send returns. An error is the
// ring's own: it is then unusable (close it and write with write(2));
// an op the kernel never took has EAGAIN, and one it took whose
// completion was not read ErrUnknown (its buffer may still be read by the
// kernel: do not reuse it). Each Buf must be heap memory, never a
// goroutine's stack: the kernel reads it by address, and a stack moves
// when it grows (the compiler would let a caller's local array through:
// ops does not escape).
func (r *Ring) Send(ops []Op) error {
	if r.closed || len(ops) > r.entries {
		for i := range ops {
			ops[i].N, ops[i].Err = 0, syscall.EAGAIN // nothing was sent
		}
		if r.closed {
			return errClosed
		}
		return fmt.Errorf("uring: %d sends, the ring takes %d", len(ops), r.entries)
	}
	if len(ops) == 0 {
		return nil
	}
	r.gen++
	tail := atomic.LoadUint32(r.sqTail)
	for i := range ops {
		op := &ops[i]
		op.N, op.Err = 0, ErrUnknown // until its completion is read
		e := &r.sqes[(tail+uint32(i))&r.sqMask]
		*e = sqe{opcode: opSend, fd: int32(op.FD), len: uint32(len(op.Buf)), msgFlags: sendFlags, userData: uint64(r.gen)<<32 | uint64(i)}
		if len(op.Buf) > 0 {
			e.addr = uint64(uintptr(unsafe.Pointer(&op.Buf[0])))
		}
	}
	// The kernel reads the tail with acquire semantics; Go's atomic store
	// is sequentially consistent, so the SQEs written above are visible.
	atomic.StoreUint32(r.sqTail, tail+uint32(len(ops)))
	err := r.enter(ops)
	runtime.KeepAlive(ops) // the buffers stay reachable until the kernel is done
	return err
}

// maxRetries bounds the io_uring_enter calls that submit nothing in a row
// (interrupted, or the kernel short of memory for a moment).
const maxRetries = 100

// enter submits the len(ops) SQEs written and reaps their completions.
// The kernel waits for completions only when it took every SQE offered;
// a partial submit (an SQE refused without SUBMIT_ALL) returns at once,
// and the next enter offers the rest. On failure the ops the kernel never
// took get EAGAIN (nothing sent); those it took and did not complete keep
// ErrUnknown.
func (r *Ring) enter(ops []Op) error {
	n, submitted, done, retries := len(ops), 0, 0, 0
	for done < n {
		ret, _, errno := syscall.Syscall6(sysEnter, uintptr(r.fd), uintptr(n-submitted), uintptr(n-done), enterGetEvents, 0, 0)
		progress := false
		switch errno {
		case 0:
			submitted += int(ret)
			progress = ret > 0 || submitted == n
		case syscall.EINTR, syscall.EAGAIN, syscall.EBUSY:
			// Interrupted, or the kernel short of memory for a moment:
			// enter again (nothing was submitted by this call).
		default:
			r.reap(ops) // what completed keeps its result
			return r.fail(ops, submitted, fmt.Errorf("uring: io_uring_enter: %w", errno))
		}
		got := r.reap(ops)
		done += got
		if progress || got > 0 {
			retries = 0
		} else if retries++; retries > maxRetries {
			return r.fail(ops, submitted, fmt.Errorf("uring: io_uring_enter made no progress %d times (last: %v)", retries, errno))
		}
	}
	return nil
}

// fail marks the ring unusable and the ops the kernel never took as not
// sent.
func (r *Ring) fail(ops []Op, submitted int, err error) error {
	r.closed = true
	for i := submitted; i < len(ops); i++ {
		ops[i].N, ops[i].Err = 0, syscall.EAGAIN
	}
	return err
}

// reap reads the completions posted so far into ops and returns how many
// were the current Send's (userData: its number, then the op's index).
func (r *Ring) reap(ops []Op) int {
	head, tail := atomic.LoadUint32(r.cqHead), atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		i := c.userData & (1<<32 - 1)
		if uint32(c.userData>>32) != r.gen || i >= uint64(len(ops)) {
			continue // an earlier Send's (none is left over but after a failure)
		}
		n++
		op := &ops[i]
		if c.res < 0 {
			op.N, op.Err = 0, syscall.Errno(-c.res)
		} else {
			op.N, op.Err = int(c.res), nil
		}
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}

// Close releases the ring. It must not run during a Send.
func (r *Ring) Close() error {
	r.closed = true
	for _, b := range r.maps {
		syscall.Munmap(b)
	}
	r.maps = nil
	if r.fd < 0 {
		return nil
	}
	err := syscall.Close(r.fd)
	r.fd = -1
	return err
}

var errClosed = errors.New("uring: ring closed")
