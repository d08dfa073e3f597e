package gateway

import (
	"testing"
	"time"
	"unsafe"
)

// stepWall returns t with its wall clock reading moved by d and its
// monotonic reading kept: what time.Now returns after the system clock
// was stepped by d. It needs time.Time's layout (wall, ext, loc; bit 63 of
// wall: a monotonic reading is present, bits 30-62: wall seconds), which
// the test checks before use.
func stepWall(tb testing.TB, t time.Time, d time.Duration) time.Time {
	tb.Helper()
	type timeLayout struct {
		wall uint64
		ext  int64
		loc  *time.Location
	}
	if unsafe.Sizeof(t) != unsafe.Sizeof(timeLayout{}) || d%time.Second != 0 {
		tb.Skip("time.Time's layout changed")
	}
	r := (*timeLayout)(unsafe.Pointer(&t))
	if r.wall&(1<<63) == 0 {
		tb.Fatal("no monotonic reading")
	}
	want := t.Add(d).Unix()
	r.wall = uint64(int64(r.wall) + int64(d/time.Second)<<30)
	if t.Unix() != want {
		tb.Skip("time.Time's layout changed")
	}
	return t
}

// TestWriteDeadlineSurvivesWallStep: the cached write deadline is on the
// socket's clock (monotonic). The wall clock steps back a minute after a
// write set a 50 ms deadline that has since passed: the next write must
// re-arm the socket's deadline, not take the cached one for a later one
// and fail at once with a timeout (the connection dropped as a slow
// consumer). Fails with the cache in Unix ns.
func TestWriteDeadlineSurvivesWallStep(t *testing.T) {
	tr, _ := rawTransport(t)
	if err := tr.write([]byte{0x81, 0}, time.Now().Add(50*time.Millisecond), false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond) // the socket's deadline passes
	deadline := stepWall(t, time.Now(), -time.Minute).Add(10 * time.Second)
	if err := tr.write([]byte{0x81, 0}, deadline, false); err != nil {
		t.Fatalf("write after a wall clock step back: %v", err)
	}
	if res, err := tr.WriteBatchNow([][]byte{[]byte(`{}`)}, false, deadline); res != writeDone || err != nil {
		t.Fatalf("WriteBatchNow after the step = %v, %v", res, err)
	}
}
