package bus

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
)

func TestCodecRoundTrip(t *testing.T) {
	in := []market.Tick{
		{Symbol: "BRK.B", TS: market.MinTS, Price: 412.5, Size: 0},
		{Symbol: "BRK.B", TS: market.MaxTS, Price: math.SmallestNonzeroFloat64, Size: math.MaxFloat64},
	}
	syms := map[string]string{}
	out, err := decodeMessage(nil, appendMessage(nil, in), 9, syms)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i].Seq = TickSeq(9, i)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("decode(encode) (-want +got):\n%s", diff)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := appendMessage(nil, []market.Tick{{Symbol: "AAPL", TS: market.MinTS, Price: 1, Size: 1}})
	bad := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := map[string][]byte{
		"empty":          {},
		"version":        bad(func(b []byte) []byte { b[0] = 2; return b }),
		"symbol length":  bad(func(b []byte) []byte { b[1] = 0; return b }),
		"bad symbol":     bad(func(b []byte) []byte { b[2] = 'a'; return b }),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"zero ticks":     bad(func(b []byte) []byte { b[6], b[7] = 0, 0; return b[:8] }),
		"nan price":      bad(func(b []byte) []byte { putF(b[8+8:], math.NaN()); return b }),
		"negative size":  bad(func(b []byte) []byte { putF(b[8+16:], -1); return b }),
		"ts out of range": bad(func(b []byte) []byte {
			b[8+7] = 0x7f
			return b
		}),
	}
	for name, payload := range tests {
		t.Run(name, func(t *testing.T) {
			if out, err := decodeMessage(nil, payload, 1, nil); err == nil {
				t.Errorf("decode(%x) = %v, want an error", payload, out)
			}
		})
	}
}

func putF(b []byte, f float64) {
	u := math.Float64bits(f)
	for i := 0; i < 8; i++ {
		b[i] = byte(u >> (8 * i))
	}
}

func TestDecodeAllocations(t *testing.T) {
	payload := appendMessage(nil, make500("ETH-USD"))
	buf := make([]market.Tick, 0, 500)
	syms := map[string]string{}
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		buf, err = decodeMessage(buf[:0], payload, 3, syms)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decoding a 500-tick message into a reused buffer allocates %v times, want 0", allocs)
	}
}

func make500(sym string) []market.Tick {
	out := make([]market.Tick, 500)
	for i := range out {
		out[i] = market.Tick{Symbol: sym, TS: market.MinTS + int64(i), Price: 1 + float64(i), Size: 2}
	}
	return out
}

func FuzzDecode(f *testing.F) {
	f.Add(appendMessage(nil, []market.Tick{{Symbol: "BRK.B", TS: market.MinTS, Price: 1.5, Size: 0}}))
	f.Add(appendMessage(nil, make500("EUR/USD")[:3]))
	f.Add([]byte{1, 1, 'A', 0, 0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := decodeMessage(nil, payload, 5, map[string]string{})
		if err != nil {
			if len(out) != 0 {
				t.Fatalf("failed decode returned %d ticks", len(out))
			}
			return
		}
		for i := range out {
			if err := out[i].Validate(); err != nil {
				t.Fatalf("decoded an invalid tick %+v: %v", out[i], err)
			}
		}
		// A payload that decodes re-encodes to itself.
		if re := appendMessage(nil, out); string(re) != string(payload) {
			t.Fatalf("re-encoding differs:\n%x\n%x", payload, re)
		}
	})
}
