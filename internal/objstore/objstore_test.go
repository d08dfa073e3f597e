package objstore_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/objstore"
)

func TestLocal(t *testing.T) {
	l, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	n, err := l.Put(ctx, "reports/1/r.csv", strings.NewReader("a,b\n"))
	if err != nil || n != 4 {
		t.Fatalf("Put() = %d, %v; want 4, nil", n, err)
	}
	rc, err := l.Open(ctx, "reports/1/r.csv")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "a,b\n" {
		t.Errorf("Open() read %q", b)
	}
	if _, err := l.Open(ctx, "reports/2/r.csv"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Open(missing) error = %v, want ErrNotFound", err)
	}
	for _, k := range []string{"", "../x", "a/../../x", "/abs", "a//b", "a b", `a\b`} {
		if _, err := l.Put(ctx, k, strings.NewReader("x")); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("Put(%q) error = %v, want ErrInvalid", k, err)
		}
	}
}
