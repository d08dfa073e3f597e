package uring

import "errors"

// ErrUnknown is the Err of a send whose completion Send did not read
// (Send failed): it may or may not have been sent.
var ErrUnknown = errors.New("uring: the send's result is unknown")

// Op is one send of Send: Buf on the socket FD; Send sets N, the bytes
// sent, and Err, the errno of a failed send (nil when N bytes were sent).
type Op struct {
	FD  int
	Buf []byte
	N   int
	Err error
}
