package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/findash/findash/internal/market"
)

// Headers of a message appended by a venue feed (AppendVenue). They travel
// with the ticks, in the same message, so a restarted feed learns from the
// log itself where it stopped (LastTradeID).
const (
	// HeaderVenue names the exchange the message's ticks come from.
	HeaderVenue = "Findash-Venue"
	// HeaderFirstTrade and HeaderLastTrade are the venue's trade ids of
	// the message's first and last tick (decimal).
	HeaderFirstTrade = "Findash-Trade-First"
	HeaderLastTrade  = "Findash-Trade-Last"
)

// AppendVenue writes ticks from venue to the log, like Append, with the
// venue's trade id of each tick in ids (same length as ticks; strictly
// increasing within each symbol's run). Each message carries the venue and
// its first and last trade id as headers, and the JetStream message id
// "venue:symbol:first-last": the stream drops a message whose id it stored
// within its duplicate window (2 minutes), so retrying an append whose
// acknowledgement was lost, with the same batch, stores nothing twice. The
// caller keeps its batches identical across retries and never sends a
// trade id twice otherwise (the feed's per-symbol mark does that).
// Duplicates dropped by the stream are acknowledged like new messages;
// they are counted in the returned dups (ticks), and their ticks' Seq is 0.
func (b *Bus) AppendVenue(ctx context.Context, venue string, ticks []market.Tick, ids []int64) (dups int, err error) {
	if len(ticks) != len(ids) {
		return 0, fmt.Errorf("append venue ticks: %d ticks but %d ids", len(ticks), len(ids))
	}
	if len(ticks) == 0 {
		return 0, nil
	}
	if !b.nc.IsConnected() {
		return 0, fmt.Errorf("append: nats %s: %w", b.nc.Status(), market.ErrUnavailable)
	}
	type sent struct {
		off, n int
		fut    jetstream.PubAckFuture
	}
	var msgs []sent
	var pubErr error
	off := 0
	forEachRun(ticks, b.maxTicks, func(run []market.Tick) {
		start := off
		off += len(run)
		if pubErr != nil {
			return
		}
		first, last := ids[start], ids[start+len(run)-1]
		m := nats.NewMsg(Subject(run[0].Symbol))
		m.Data = appendMessage(make([]byte, 0, encodedLen(run[0].Symbol, len(run))), run)
		m.Header.Set(HeaderVenue, venue)
		m.Header.Set(HeaderFirstTrade, strconv.FormatInt(first, 10))
		m.Header.Set(HeaderLastTrade, strconv.FormatInt(last, 10))
		f, err := b.js.PublishMsgAsync(m, jetstream.WithMsgID(venue+":"+run[0].Symbol+":"+strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(last, 10)))
		if err != nil {
			pubErr = err
			return
		}
		msgs = append(msgs, sent{off: start, n: len(run), fut: f})
	})
	if pubErr != nil {
		return 0, fmt.Errorf("append %d %s ticks: publish: %w: %w", len(ticks), venue, market.ErrUnavailable, pubErr)
	}
	for _, s := range msgs {
		select {
		case ack := <-s.fut.Ok():
			if ack.Duplicate {
				dups += s.n
				continue
			}
			for k := range s.n {
				ticks[s.off+k].Seq = TickSeq(ack.Sequence, k)
			}
		case err := <-s.fut.Err():
			return 0, fmt.Errorf("append %d %s ticks: ack: %w: %w", len(ticks), venue, market.ErrUnavailable, err)
		case <-ctx.Done():
			return 0, fmt.Errorf("append %d %s ticks: waiting for acks: %w: %w", len(ticks), venue, market.ErrUnavailable, ctx.Err())
		}
	}
	return dups, nil
}

// LastTradeID returns the venue trade id of the last tick of symbol in the
// log, when the log's last message of symbol came from venue (AppendVenue);
// ok is false when the log holds no message of symbol, or its last one came
// from elsewhere (POST /api/v1/ticks, another venue) or carries no trade id.
func (b *Bus) LastTradeID(ctx context.Context, venue, symbol string) (id int64, ok bool, err error) {
	msg, err := b.stream.GetLastMsgForSubject(ctx, Subject(symbol))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("last message of %s: %w: %w", symbol, market.ErrUnavailable, err)
	}
	if msg.Header.Get(HeaderVenue) != venue {
		return 0, false, nil
	}
	id, perr := strconv.ParseInt(msg.Header.Get(HeaderLastTrade), 10, 64)
	if perr != nil || id <= 0 {
		return 0, false, nil
	}
	return id, true, nil
}
