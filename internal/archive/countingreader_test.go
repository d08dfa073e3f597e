package archive

import (
	"errors"
	"io"
	"testing"
)

// countingReaderAt reads nothing past the manifest's size of the object,
// even when the object is longer, and counts only what it read.
func TestCountingReaderAtSize(t *testing.T) {
	obj := make(bytesAt, 100)
	p := &pageRead{lim: PageLimits{MaxBytes: 1 << 20}}
	c := &countingReaderAt{r: obj, p: p, size: 50}
	buf := make([]byte, 10)
	for _, tc := range []struct {
		off   int64
		n     int
		isEOF bool
	}{{0, 10, false}, {40, 10, false}, {45, 5, true}, {50, 0, true}, {90, 0, true}, {-1, 0, true}} {
		n, err := c.ReadAt(buf, tc.off)
		if n != tc.n || errors.Is(err, io.EOF) != tc.isEOF || (err != nil && !errors.Is(err, io.EOF)) {
			t.Errorf("ReadAt(10 bytes at %d) of a 50-byte part = %d, %v; want %d, EOF %v", tc.off, n, err, tc.n, tc.isEOF)
		}
	}
	if p.bytes != 25 {
		t.Errorf("bytes counted = %d, want 25", p.bytes)
	}
}
