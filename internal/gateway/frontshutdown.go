package gateway

// Front's Shutdown: the wait for the handlers it runs.

import (
	"context"
	"fmt"
)

// Shutdown closes f (as Close) and waits until no connection is waiting
// for a head here and no handler it runs is running, as the server's
// Shutdown waits for the requests net/http serves (it does not see
// these). When ctx ends first it cancels the contexts of the requests
// still running and returns ctx's error. Call it after the server's
// Shutdown.
func (f *Front) Shutdown(ctx context.Context) error {
	_ = f.Close()
	for {
		f.mu.Lock()
		if f.active == 0 && len(f.reading) == 0 {
			f.mu.Unlock()
			return nil
		}
		if f.quiet == nil {
			f.quiet = make(chan struct{})
		}
		q := f.quiet
		f.mu.Unlock()
		select {
		case <-q:
		case <-ctx.Done():
			f.hcancel()
			return fmt.Errorf("websocket front: handlers still running: %w", ctx.Err())
		}
	}
}

// quietLocked closes quiet when nothing is left for Shutdown to wait for.
func (f *Front) quietLocked() {
	if f.quiet != nil && f.active == 0 && len(f.reading) == 0 {
		close(f.quiet)
		f.quiet = nil
	}
}

// handlerDone counts the end of a handler readHead counted.
func (f *Front) handlerDone() {
	f.mu.Lock()
	f.active--
	f.quietLocked()
	f.mu.Unlock()
}
