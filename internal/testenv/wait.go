package testenv

import (
	"testing"
	"time"
)

// maxPoll bounds the pause between two calls of a WaitFor condition: short
// enough that tests measuring how soon something happens (test/stage3) are
// off by at most this much.
const maxPoll = 20 * time.Millisecond

// WaitFor calls cond until it returns true or timeout passes, and reports
// whether it returned true. It is for conditions that no event announces:
// the state of another process or server (a replica catching up, a job
// queue polling its database). Code in this process that can signal, or
// that runs on an injected clock, is tested with explicit events or
// testing/synctest instead. Between calls it pauses 1 ms, doubling up to
// 20 ms; cond is always called at least once, and once more at the
// deadline.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	return poll(timeout, time.Millisecond, func(p time.Duration) time.Duration { return min(2*p, maxPoll) }, cond)
}

// poll calls cond until it returns true or timeout passes, pausing first
// pause, then next(pause), between calls; cond is always called at least
// once, and once more at the deadline.
func poll(timeout, pause time.Duration, next func(time.Duration) time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	timer := time.NewTimer(pause)
	defer timer.Stop()
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		timer.Reset(min(pause, left))
		<-timer.C
		pause = next(pause)
	}
}

// Eventually is WaitFor that fails tb with the message (and the timeout)
// when cond does not hold within timeout.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	if !WaitFor(timeout, cond) {
		tb.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
	}
}

// Poll is WaitFor with a fixed pause between calls, for conditions that
// make the process under test do real work (a large query, a paginated
// read): calling those every 20 ms would slow down what the test waits for.
func Poll(timeout, every time.Duration, cond func() bool) bool {
	return poll(timeout, every, func(time.Duration) time.Duration { return every }, cond)
}
