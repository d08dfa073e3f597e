package market

import (
	"errors"
	"math"
	"testing"
)

func TestCheckBatch(t *testing.T) {
	ok := []Tick{{Symbol: "AAA", Seq: 1}, {Symbol: "AAA", Seq: math.MaxInt64}}
	cases := []struct {
		name    string
		part    int
		ticks   []Tick
		logSeq  uint64
		invalid string // the field named, "" when valid
	}{
		{"unpartitioned", Unpartitioned, ok, 7, ""},
		{"partition 3", 3, ok, math.MaxInt64, ""},
		{"partition below -1", -2, ok, 7, "partition"},
		{"log position past int64", 0, ok, math.MaxInt64 + 1, "log_seq"},
		{"tick sequence past int64", 0, []Tick{{Symbol: "AAA", Seq: math.MaxInt64 + 1}}, 7, "seq"},
	}
	for _, c := range cases {
		err := CheckBatch(c.part, c.ticks, c.logSeq)
		var ve *ValidationError
		switch {
		case c.invalid == "" && err != nil:
			t.Errorf("%s: %v, want nil", c.name, err)
		case c.invalid != "" && (!errors.As(err, &ve) || ve.Field != c.invalid || !errors.Is(err, ErrInvalid)):
			t.Errorf("%s: %v, want ErrInvalid on %s", c.name, err, c.invalid)
		}
	}
}
