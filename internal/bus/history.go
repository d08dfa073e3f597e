package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/findash/findash/internal/market"
)

// Ticks reads symbol's ticks with a seq above after from the log, oldest
// first, at least atLeast of them when the log holds that many (the last
// message read may add more), stopping at the message that holds until:
// for a WebSocket client that fell out of the gateway's replay ring (which
// holds what comes after until), or resumes from before it. Each message is fetched
// by the stream's get-next-by-subject request, so nothing is kept between
// calls. lost > after says the log no longer holds ticks after `after` up to
// lost (its retention dropped them); the ticks returned come after lost. A
// message that does not decode is skipped.
func (b *Bus) Ticks(ctx context.Context, symbol string, after, until uint64, atLeast int) (ticks []market.Tick, lost uint64, err error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s info: %w: %w", StreamName, market.ErrUnavailable, err)
	}
	seq := max(StreamSeq(after), 1) // its message may hold newer ticks of symbol
	if first := info.State.FirstSeq; first > 1 && seq < first {
		lost, seq = TickSeq(first, 0)-1, first
	}
	subject := Subject(symbol)
	last := min(info.State.LastSeq, StreamSeq(until))
	for len(ticks) < atLeast && seq <= last {
		msg, err := b.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return ticks, lost, fmt.Errorf("read %s after seq %d: %w: %w", symbol, after, market.ErrUnavailable, err)
		}
		if msg.Sequence > last {
			break
		}
		seq = msg.Sequence + 1
		n := len(ticks)
		ticks, err = decodeMessage(ticks, msg.Data, msg.Sequence, nil)
		if err != nil {
			b.log.Warn("skipping a log message that does not decode", "stream_seq", msg.Sequence, "err", err)
			continue
		}
		// Only the first message can hold ticks up to after.
		k := n
		for _, t := range ticks[n:] {
			if t.Seq > after {
				ticks[k] = t
				k++
			}
		}
		ticks = ticks[:k]
	}
	return ticks, lost, nil
}
