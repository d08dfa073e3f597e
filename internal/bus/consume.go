package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retry"
)

// consumeMaxBytes bounds what one consumer buffers ahead of its handler.
const consumeMaxBytes = 8 << 20

// consumeMaxMessages bounds the messages one pull asks for. Given only a
// byte limit, the client sizes its message channel for 1,000,000 messages:
// 8 MB of pointers per consumer, 24 MB per process with the live feed, the
// persister and the alert evaluator, allocated at start and held (seen in
// the heap profiles of the symbol flood, issue 13 item 3). 4,096 messages
// still keep a handler fed: the client pulls again at half of it.
const consumeMaxMessages = 4096

// consumeHeartbeat is the server's idle heartbeat on a consumer's pull
// requests; two missed in a row make the ordered consumer start again
// from the last message it handed over. The client's default for ordered
// consumers is 5 s: with NATS 2.9.10 under the load of 50,000 clients a
// consumer at times received nothing after a pull request expired until
// that restart, so one instance of three stopped delivering for 10 s
// (deploy/bench/ws-instances.sh, p99 9.4 s in 3 of 7 runs); at 1 s the stall
// is at most 2 s there, and none was seen with the 2.15 server findash
// embeds. No unit test reproduces it: at low load the consumer never stalls.
const consumeHeartbeat = time.Second

// handlerError marks an error returned by a Consume handler.
type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }
func (e handlerError) Unwrap() error { return e.err }

// Consume reads the log in order from stream sequence from (1 = the start;
// older messages the log no longer holds are skipped) and calls fn once per
// message with its stream sequence and its decoded ticks, each with Seq set.
// The ticks slice is reused after fn returns: copy what must outlive the call.
//
// Memory is bounded: at most about 8 MiB of messages are fetched ahead of fn,
// and a slow fn slows the fetching (back-pressure, nothing is dropped).
// A message that does not decode is logged and skipped. When the connection
// or the server-side consumer fails, Consume resumes after the last message
// handed to fn, waiting as retry.Log says. It returns ctx.Err() when ctx
// ends, or fn's error (wrapped) as soon as fn returns one.
func (b *Bus) Consume(ctx context.Context, from uint64, fn func(streamSeq uint64, ticks []market.Tick) error) error {
	return b.consume(ctx, nil, from, fn)
}

// consume is Consume of the messages whose subjects match filters (nil:
// every message).
func (b *Bus) consume(ctx context.Context, filters []string, from uint64, fn func(streamSeq uint64, ticks []market.Tick) error) error {
	c := consumer{b: b, fn: fn, next: max(from, 1), syms: make(map[string]string), filters: filters}
	p := retry.Log()
	// One BackOff kept by hand, given last so it replaces the policy's own:
	// a consumer that delivered something before it failed starts again
	// from the first, short wait.
	bo := p.BackOff()
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		delivered := c.delivered
		err := c.run(ctx)
		var he handlerError
		if errors.As(err, &he) {
			return struct{}{}, backoff.Permanent(fmt.Errorf("consume: %w", he.err))
		}
		if c.delivered > delivered {
			bo.Reset()
		}
		return struct{}{}, err
	}, append(p.Options(func(err error, wait time.Duration) {
		b.log.Warn("log consumer failed; resuming", "from", c.next, "err", err, "backoff", wait)
	}), backoff.WithBackOff(bo))...)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// consumer is the state of one Consume call.
type consumer struct {
	b         *Bus
	fn        func(uint64, []market.Tick) error
	next      uint64            // stream sequence to resume from
	syms      map[string]string // interned symbols
	buf       []market.Tick     // decoded ticks, reused
	delivered uint64            // messages handed to fn
	filters   []string          // subject filters; nil: every message
}

func (c *consumer) run(ctx context.Context) error {
	cons, err := c.b.js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    c.next,
		FilterSubjects: c.filters,
	})
	if err != nil {
		return fmt.Errorf("create consumer at %d: %w: %w", c.next, market.ErrUnavailable, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(consumeMaxMessages, consumeMaxBytes), jetstream.PullHeartbeat(consumeHeartbeat))
	if err != nil {
		return fmt.Errorf("consume at %d: %w: %w", c.next, market.ErrUnavailable, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("next message after %d: %w", c.next-1, err)
		}
		seq, err := streamSeqOf(msg)
		if err != nil {
			return err
		}
		if seq < c.next { // redelivered after a reset: already handed over
			continue
		}
		c.next = seq + 1
		c.buf, err = decodeMessage(c.buf[:0], msg.Data(), seq, c.syms)
		if err != nil {
			c.b.log.Error("skipping undecodable log message", "stream_seq", seq, "subject", msg.Subject(), "err", err)
			continue
		}
		c.delivered++
		if err := c.fn(seq, c.buf); err != nil {
			return handlerError{err}
		}
	}
}
