package gateway

// Panics and stack room of the writer pool's batched sends (poolsend.go).

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// ringConns makes n connections of a fresh one-writer hub, each on a
// loopback socket with one message queued and c.writing set (as if on the
// ready queue), and the writer's ring.
func ringConns(t *testing.T, n int) (*writerShard, []*conn) {
	t.Helper()
	h := New(market.NewState(), Config{Writers: 1, WriteCoalesce: -1}, nil, prometheus.NewRegistry())
	w := &h.writers[0]
	if w.sendRing(2) == nil {
		t.Skip("no io_uring here")
	}
	cs := make([]*conn, n)
	for i := range cs {
		tr, _ := rawTransport(t)
		c := newConn(h, 0)
		c.t = tr
		cs[i] = c
	}
	requeue(cs)
	return w, cs
}

func requeue(cs []*conn) {
	for _, c := range cs {
		c.mu.Lock()
		c.appendLocked([]byte(`{"type":"tick"}`))
		c.writing = true
		c.mu.Unlock()
	}
}

// panicRaw is a RawConn whose Write panics (a stand-in for any panic in
// hold or send, which recoverPass is there for).
type panicRaw struct{ syscall.RawConn }

func (panicRaw) Write(func(uintptr) bool) error { panic("injected panic in hold") }

// A panic in a batched pass (recoverPass) ends the connections of its
// chunk and writes the pass's connections not begun yet: none is left
// marked writing with no writer (serveConn and Drain wait for writerDone).
func TestPoolPanicInPassLeavesNoConnStranded(t *testing.T) {
	w, cs := ringConns(t, ringEntries+2)
	cs[0].t.(*wsTransport).raw = panicRaw{}
	var n writeCount
	w.writeBatched(append([]*conn(nil), cs...), *w.ring, &n)
	for i, c := range cs[:ringEntries] {
		select {
		case <-c.writerDone: // ended by the panic
		case <-time.After(5 * time.Second):
			t.Fatalf("conn %d (in the chunk that panicked): its writer did not end", i)
		}
	}
	if n.frames != 2 {
		t.Errorf("%d frames written, want the 2 of the connections not begun", n.frames)
	}
	for i, c := range cs[ringEntries:] {
		c.mu.Lock()
		writing, queued := c.writing, len(c.q)
		c.mu.Unlock()
		c.close(0, "")
		select {
		case <-c.writerDone:
		case <-time.After(5 * time.Second):
			t.Errorf("conn %d (not begun when the pass panicked): writing=%v, %d queued, and after close its writer never ends", ringEntries+i, writing, queued)
		}
	}
}

// panicIsErr is an error whose Is panics: it makes finishNow panic after
// its deferred wmu.Unlock has been registered (a stand-in for any panic in
// finish's first loop).
type panicIsErr struct{}

func (panicIsErr) Error() string { return "injected" }
func (panicIsErr) Is(error) bool { panic("injected panic in finishNow") }

type errRaw struct{ syscall.RawConn }

func (errRaw) Write(func(uintptr) bool) error { return panicIsErr{} }

// A panic inside finishNow (finish's first loop) must not have
// recoverPass finish the item again: a second unlock of its wmu is a fatal
// error, not a recoverable panic. Run in a child process, which must end
// well.
func TestPoolPanicInFinishNowUnlocksOnce(t *testing.T) {
	if os.Getenv("FINDASH_POOL_PANIC_CHILD") == "1" {
		w, cs := ringConns(t, 3)
		cs[1].t.(*wsTransport).raw = errRaw{}
		var n writeCount
		w.writeBatched(append([]*conn(nil), cs...), *w.ring, &n)
		t.Log("no crash")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPoolPanicInFinishNowUnlocksOnce$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "FINDASH_POOL_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no crash") {
		t.Fatalf("the child failed (%v): %s", err, firstLines(string(out), 5))
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	return strings.Join(l[:min(n, len(l))], " | ")
}

//go:noinline
func stackPad(levels int, f func()) byte {
	var pad [256]byte
	if levels == 0 {
		f()
		return pad[levels&1]
	}
	return stackPad(levels-1, f) + pad[levels&1]
}

// growHoldStack's 16 KiB holds the recursion of a full chunk (32 items):
// with k extra levels of 256 B below writeBatched, is the stack copied
// during the pass (the address of a local moves)? It must not be at k 0.
func TestPoolHoldStackRoom(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation grows every frame: the room is the production build's (run without -race)")
	}
	w, cs := ringConns(t, ringEntries)
	moved := func(levels int) bool {
		done := make(chan bool)
		go func() {
			growHoldStack(0) // the stack is 16 KiB from here on
			var x byte
			before := uintptr(unsafe.Pointer(&x))
			stackPad(levels, func() {
				var n writeCount
				requeue(cs)
				w.writeBatched(append([]*conn(nil), cs...), *w.ring, &n)
				if n.frames != ringEntries {
					t.Errorf("%d frames written, want %d", n.frames, ringEntries)
				}
			})
			done <- uintptr(unsafe.Pointer(&x)) != before
		}()
		return <-done
	}
	// requeue needs the conns idle: writeBatched leaves them so (endRound).
	first := -1
	for k := 0; k <= 40; k++ {
		if moved(k) {
			first = k
			break
		}
	}
	t.Logf("the 32-deep hold first regrows the 16 KiB stack with %d extra 256-B levels (~%d B of headroom); 0 means it does not fit at all", first, first*256)
	if first == 0 {
		t.Error("a full chunk's hold does not fit in the 16 KiB stack growHoldStack makes")
	}
}
