package gateway

// Panics and stack room of the writer pool's batched sends (poolsend.go).

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/debug"
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
// ready queue), and the writer's ring. Their peers read and drop what
// they get.
func ringConns(t testing.TB, n int) (*writerShard, []*conn) {
	t.Helper()
	w, cs, peers := ringPeers(t, n)
	for _, peer := range peers {
		go io.Copy(io.Discard, peer) // ends when the cleanup closes peer
	}
	requeue(cs)
	return w, cs
}

// ringPeers makes n connections of a fresh one-writer hub, each on a
// loopback socket, their peers, and the writer with its ring (skipping t
// where io_uring is refused).
func ringPeers(t testing.TB, n int) (*writerShard, []*conn, []net.Conn) {
	t.Helper()
	h := New(market.NewState(), Config{Writers: 1, WriteCoalesce: -1}, nil, prometheus.NewRegistry())
	w := &h.writers[0]
	if w.sendRing(2) == nil {
		t.Skip("no io_uring here")
	}
	cs := make([]*conn, n)
	peers := make([]net.Conn, n)
	for i := range cs {
		tr, peer := rawTransport(t)
		c := newConn(h, 0)
		c.t = tr
		cs[i], peers[i] = c, peer
	}
	return w, cs, peers
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
	if !ringWorks(t) {
		t.Skip("no io_uring here: no batched pass to panic in") // the child would skip, and print no "no crash"
	}
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
		t.Skip("the race detector's instrumentation grows every frame: the room is the production build's (.ci/run runs this without -race)")
	}
	// No GC meanwhile: a GC may shrink the 16 KiB stack between
	// growHoldStack and the pass, which would read as not fitting.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	w, cs := ringConns(t, ringEntries)
	// moved: run f below levels extra frames of 256 B on a goroutine whose
	// stack growHoldStack made 16 KiB; was the stack copied meanwhile?
	moved := func(levels int, f func()) bool {
		done := make(chan bool)
		go func() {
			growHoldStack(0)
			var x byte
			before := uintptr(unsafe.Pointer(&x))
			stackPad(levels, f)
			done <- uintptr(unsafe.Pointer(&x)) != before
		}()
		return <-done
	}
	firstMove := func(f func()) int {
		for k := 0; k <= 64; k++ {
			if moved(k, f) {
				return k
			}
		}
		return -1
	}
	// A pool writer runs writeBatched from run, a frame below its
	// goroutine's start; here it runs a few frames deeper still (the
	// closures, stackPad), so a pass that does not move the stack at 0
	// extra frames does not in production either. writeBatched's own
	// growHoldStack is popped before the holds: they may use the whole
	// 16 KiB.
	// requeue needs the conns idle: writeBatched leaves them so (endRound).
	first := firstMove(func() {
		var n writeCount
		requeue(cs)
		w.writeBatched(append([]*conn(nil), cs...), *w.ring, &n)
		if n.frames != ringEntries {
			t.Errorf("%d frames written, want %d", n.frames, ringEntries)
		}
	})
	t.Logf("a pass of %d frames first moves the 16 KiB stack with %d extra frames of 256 B (~%d B of headroom)", ringEntries, first, first*256)
	if first == 0 {
		t.Errorf("a pass of %d frames does not fit the 16 KiB stack growHoldStack makes", ringEntries)
	}
}

// BenchmarkPoolPass is one pass of a pool writer over 32 connections on
// loopback, one small frame each (a fan-out tick), written with one
// io_uring_enter or with a write(2) each; the peers drain in the
// background.
//
//	go test ./internal/gateway -run '^$' -bench PoolPass -benchtime 20000x
func BenchmarkPoolPass(b *testing.B) {
	for _, ring := range []bool{true, false} {
		b.Run(fmt.Sprintf("io_uring=%v", ring), func(b *testing.B) {
			w, cs := ringConns(b, ringEntries)
			var n writeCount
			// The first pass: ringConns queued a message already.
			w.writeBatched(append([]*conn(nil), cs...), *w.ring, &n)
			batch := make([]*conn, len(cs))
			b.ResetTimer()
			for range b.N {
				requeue(cs)
				copy(batch, cs)
				if ring {
					w.writeBatched(batch, *w.ring, &n)
				} else {
					for i, c := range batch {
						batch[i] = nil
						c.writeRound(&n)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cs)), "ns/frame")
		})
	}
}
