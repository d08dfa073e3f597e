package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/testenv"
)

// openURL opens the log of the NATS server at url; the caller closes it.
func openURL(t *testing.T, url, mirrorDomain string) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{URL: url, MirrorDomain: mirrorDomain}, discard())
	if err != nil {
		t.Fatalf("Open(%q, mirror of %q): %v", url, mirrorDomain, err)
	}
	return b
}

// seqsOf returns the seqs of what readAll returned, tick by tick.
func seqsOf(gs []got) []uint64 {
	var out []uint64
	for _, g := range gs {
		for _, tk := range g.ticks {
			out = append(out, tk.Seq)
		}
	}
	return out
}

// TestRegionMirror runs two regions, each its own NATS server and
// JetStream domain, linked by a leafnode: region a holds the log, region
// b's log mirrors it. Ticks appended in either region are read in both,
// with the same seqs, the ones the append acknowledged; b's MirrorState
// reports a live link; with a lost, reopening b without a mirror domain
// promotes its log, which continues the numbering.
func TestRegionMirror(t *testing.T) {
	a := testenv.NATSRegion(t, "a", "")
	b := testenv.NATSRegion(t, "b", a.LeafAddr)
	testenv.Eventually(t, 10*time.Second, b.Linked, "region b's leafnode to a never came up")
	ctx := context.Background()
	logA := openURL(t, a.URL, "")
	defer func() {
		if logA != nil {
			closeBus(t, logA)
		}
	}()
	logB := openURL(t, b.URL, "a")
	defer func() {
		if logB != nil {
			closeBus(t, logB)
		}
	}()

	inA := ticksOf("BTC-USD", 3, market.MinTS)
	if err := logA.Append(ctx, inA); err != nil {
		t.Fatalf("Append in a: %v", err)
	}
	inB := ticksOf("ETH-USD", 2, market.MinTS+1_000) // stored by a's log, through the link
	if err := logB.Append(ctx, inB); err != nil {
		t.Fatalf("Append in b: %v", err)
	}
	want := append(append([]market.Tick(nil), inA...), inB...)
	var wantSeqs []uint64
	for _, tk := range want {
		wantSeqs = append(wantSeqs, tk.Seq)
	}
	for name, l := range map[string]*bus.Bus{"a": logA, "b": logB} {
		gs := readAll(t, l, 1, len(want))
		if diff := cmp.Diff(wantSeqs, seqsOf(gs)); diff != "" {
			t.Errorf("region %s read seqs (-acknowledged +read):\n%s", name, diff)
		}
	}

	st, err := logB.MirrorState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Mirrored || st.Active < 0 || st.Active > 10*time.Second || st.Err != "" {
		t.Errorf("region b MirrorState = %+v, want mirrored, heard from within 10 s, no error", st)
	}
	if st, err := logA.MirrorState(ctx); err != nil || st.Mirrored {
		t.Errorf("region a MirrorState = %+v, %v; want not mirrored", st, err)
	}

	// Region a is lost: b promotes its mirror and goes on numbering.
	last := wantSeqs[len(wantSeqs)-1] >> 16
	closeBus(t, logA)
	logA = nil
	a.Server.Shutdown()
	closeBus(t, logB)
	logB = openURL(t, b.URL, "")
	promoted := logB
	after := ticksOf("BTC-USD", 1, market.MinTS+2_000)
	if err := promoted.Append(ctx, after); err != nil {
		t.Fatalf("Append in b after promotion: %v", err)
	}
	if got := after[0].Seq >> 16; got != last+1 {
		t.Errorf("first stream seq after promotion = %d, want %d", got, last+1)
	}
	if st, err := promoted.MirrorState(ctx); err != nil || st.Mirrored {
		t.Errorf("promoted MirrorState = %+v, %v; want not mirrored", st, err)
	}
}
