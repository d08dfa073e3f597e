package gateway

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/findash/findash/internal/market"
)

// closeMidHold is a RawConn that, once its own descriptor is held (inside
// the nested holds of sendBatch.hold), runs mid before the batch goes on.
type closeMidHold struct {
	syscall.RawConn
	mid func()
}

func (r closeMidHold) Write(fn func(uintptr) bool) error {
	return r.RawConn.Write(func(fd uintptr) bool { r.mid(); return fn(fd) })
}

// A connection closed mid-batch (after beginNow, before its
// descriptor is held), whose descriptor number is at once reused by a new
// socket, is not written to (RawConn.Write fails: the new socket gets
// nothing), its writer ends, and the batch's other frames arrive.
func TestPoolCloseMidBatch(t *testing.T) {
	w, cs, peers := ringPeers(t, 4)
	requeue(cs)
	victim := cs[2].t.(*wsTransport)
	var victimFD int
	victim.raw.Control(func(fd uintptr) { victimFD = int(fd) })
	// A connection waits in a listener's backlog: accepted right after the
	// close, it gets the lowest free descriptor, the victim's.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	intruderPeer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer intruderPeer.Close()
	var intruder net.Conn
	reusedFD := -1
	t1 := cs[1].t.(*wsTransport)
	t1.raw = closeMidHold{RawConn: t1.raw, mid: func() {
		victim.nc.Close() // not held yet: closed at once, its number free
		if intruder, err = ln.Accept(); err != nil {
			panic(err)
		}
		rc, _ := intruder.(*net.TCPConn).SyscallConn()
		rc.Control(func(fd uintptr) { reusedFD = int(fd) })
	}}
	var cnt writeCount
	w.writeBatched(append([]*conn(nil), cs...), *w.ring, &cnt)
	t.Logf("victim fd %d, new socket fd %d; %d frames", victimFD, reusedFD, cnt.frames)
	select {
	case <-cs[2].writerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the closed connection's writer did not end")
	}
	intruderPeer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if b, _ := io.ReadAll(intruderPeer); len(b) > 0 {
		t.Fatalf("the socket that reused the closed connection's descriptor got %q", b)
	}
	for _, i := range []int{0, 1, 3} {
		peers[i].SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		k, err := peers[i].Read(buf)
		if err != nil || !bytes.Contains(buf[:k], []byte(`{"type":"tick"}`)) {
			t.Fatalf("conn %d: read %q, %v", i, buf[:k], err)
		}
	}
}

// A short send through the ring keeps the unwritten tail
// (writeKept), the connection's own writer finishes it, and the client
// reads the whole frame, then later frames, in order.
func TestPoolShortSendKeepsTail(t *testing.T) {
	w, cs, peers := ringPeers(t, 3)
	tr0 := cs[0].t.(*wsTransport)
	tr0.nc.(*net.TCPConn).SetWriteBuffer(4 << 10)
	peers[0].(*net.TCPConn).SetReadBuffer(4 << 10)
	big := append([]byte(`"`), bytes.Repeat([]byte("x"), 100<<10)...)
	big = append(big, '"')
	for i, c := range cs {
		c.mu.Lock()
		if i == 0 {
			c.appendLocked(big)
		} else {
			c.appendLocked([]byte(`{"type":"tick"}`))
		}
		c.writing = true
		c.mu.Unlock()
	}
	var cnt writeCount
	w.writeBatched(append([]*conn(nil), cs...), *w.ring, &cnt)
	if !tr0.wmu.TryLock() {
		t.Log("conn 0's own writer holds wmu (it waits for room): as expected")
	} else {
		kept := tr0.rest != nil
		tr0.wmu.Unlock()
		t.Logf("kept tail after the pass: %v", kept)
	}
	// Queue a second message; it must come after the whole big frame.
	cs[0].mu.Lock()
	cs[0].appendLocked([]byte(`"second"`))
	cs[0].signalLocked()
	cs[0].mu.Unlock()
	peers[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	want := append(appendBatchFrame(nil, [][]byte{big}), appendBatchFrame(nil, [][]byte{[]byte(`"second"`)})...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peers[0], got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("conn 0's stream differs from the two frames in order (first diff at %d)", firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A writer whose io_uring setup fails for want of descriptors (a
// connection flood at the process's limit) writes with write(2) and sets
// a ring up again ringRetry later; a refusal (no io_uring here) would turn
// io_uring off for good. Run in a child process: it lowers the process's
// descriptor limit.
func TestPoolRingSetupRetried(t *testing.T) {
	if !ringWorks(t) {
		t.Skip("no io_uring here: nothing to retry")
	}
	if os.Getenv("FINDASH_RING_RETRY_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPoolRingSetupRetried$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "FINDASH_RING_RETRY_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestPoolRingSetupRetried") {
			t.Fatalf("the child failed (%v): %s", err, firstLines(string(out), 20))
		}
		return
	}
	now := time.Unix(1_800_000_000, 0)
	h := New(market.NewState(), Config{Writers: 1, WriteCoalesce: -1, Now: func() time.Time { return now }}, nil, prometheus.NewRegistry())
	w := &h.writers[0]
	// The lowest free descriptor is next's; with the limit at it, the
	// ring's descriptor cannot be had.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	next := f.Fd()
	f.Close()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(next)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	r := w.sendRing(2)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if r != nil || w.ringOff {
		t.Fatalf("at the descriptor limit: ring %v, io_uring off %v; want write(2) for now, not for good", r, w.ringOff)
	}
	now = now.Add(ringRetry - time.Second)
	if w.sendRing(2) != nil {
		t.Fatal("a ring set up again before ringRetry passed")
	}
	now = now.Add(time.Second)
	if w.sendRing(2) == nil {
		t.Fatal("no ring ringRetry after the failure, with descriptors free again")
	}
	if n := testutil.ToFloat64(h.met.uringWriters); n != 1 {
		t.Fatalf("findash_ws_io_uring_writers %v, want 1", n)
	}
	(*w.ring).Close()
}
