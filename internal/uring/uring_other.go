//go:build !linux

package uring

import "errors"

// Ring is io_uring's ring; there is none on this system.
type Ring struct{}

// New fails: io_uring is Linux's. The caller writes with write(2).
func New(entries int) (*Ring, error) { return nil, errors.New("uring: io_uring is Linux only") }

// Cap is 0: New never returns a Ring here.
func (r *Ring) Cap() int { return 0 }

// Send fails: there is no ring.
func (r *Ring) Send(ops []Op) error { return errors.New("uring: io_uring is Linux only") }

// Close does nothing.
func (r *Ring) Close() error { return nil }
