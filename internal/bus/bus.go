package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retry"
)

// StreamName is the JetStream stream that holds the tick log.
const StreamName = "FINDASH_TICKS"

// Config selects and tunes the event log.
type Config struct {
	// URL is a comma-separated list of nats:// URLs of an external cluster.
	// Empty starts a NATS server with JetStream inside the process, reached
	// without TCP, storing under DataDir/nats.
	URL string
	// DataDir is where the embedded server keeps its file store.
	DataDir string
	// Replicas is the stream's replica count (default 1; 3 on a cluster).
	Replicas int
	// MaxAge is how long the log keeps a message (default 24h).
	MaxAge time.Duration
	// MaxBytes bounds the stream's size; the oldest messages go first (0 = unlimited).
	MaxBytes int64
	// AckTimeout bounds how long an unacknowledged publish is tracked (default 10s).
	AckTimeout time.Duration
	// Partitions, when above 0, splits the log into that many partitions by
	// symbol: the stream maps each message's subject onto
	// findash.ticks.<partition>.<symbol> with the server's deterministic
	// partition() transform, so a symbol always falls in the same partition
	// and keeps its order there (ConsumePartitions). 0 (the default, and
	// stage 1) keeps one unpartitioned log. Decision 0041.
	Partitions int
	// Repartition, with PartitionsFrom, is the explicit change of the
	// number of partitions (decision 0044): the stream records how many it
	// holds, and Open refuses a log split into another number than
	// Partitions (ErrLayoutMismatch) unless Repartition is set and the
	// stored number is PartitionsFrom; then the stream is split into
	// Partitions from the next message on. Only with a drained log
	// (docs/operations.md).
	Repartition    bool
	PartitionsFrom int
	// MirrorDomain, when set, makes this region's log a mirror of the log
	// held by the primary region, whose NATS servers run the JetStream
	// domain MirrorDomain and are linked to this region's (leafnodes,
	// decision 0036): seqs are the primary's, ticks appended here are
	// stored by the primary, and MirrorState tells how the link is doing.
	// Empty (the default): this region holds the log. Opening with it empty
	// on a mirror promotes the mirror to the log (a region failover).
	MirrorDomain string
}

func (c *Config) defaults() {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 10 * time.Second
	}
}

// Bus is the connection to the event log. It is safe for concurrent use.
type Bus struct {
	log    *slog.Logger
	srv    *server.Server // nil with an external cluster
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	closed chan struct{} // closed by the connection's ClosedHandler
	// maxTicks is the most ticks one message may carry: MaxTicksPerMessage,
	// or fewer if the server's max payload is smaller.
	maxTicks int
}

// Open connects to the event log (starting the embedded server when
// cfg.URL is empty) and creates or updates the tick stream. Errors wrap
// market.ErrUnavailable when the log cannot be reached.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Bus, error) {
	cfg.defaults()
	b := &Bus{log: log.With("component", "bus"), closed: make(chan struct{})}
	opts := []nats.Option{
		nats.Name("findash"),
		nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { b.log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	url := cfg.URL
	if url == "" {
		srv, err := startEmbedded(cfg.DataDir, b.log)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		// Writes that do not wait for the server's read loop (inproc.go).
		opts = append(opts, nats.InProcessServer(asyncInProc{provider: srv, max: maxInProcPending}))
	} else {
		url = strings.Join(strings.Fields(strings.ReplaceAll(url, ",", " ")), ",")
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("connect to nats: %w: %w", market.ErrUnavailable, err)
	}
	b.nc = nc
	if v := nc.ConnectedServerVersion(); b.srv == nil && olderThan(v, 2, 10) {
		b.log.Warn("the NATS server is older than 2.10; findash is tested with the 2.15 it embeds: with 2.9.10 under load a log consumer at times stopped receiving after a pull request expired, until two missed heartbeats (2 s) restarted it",
			"server_version", v)
	}
	b.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		b.abort()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	scfg := streamConfig(cfg)
	// A cluster that is still electing its JetStream leader (several
	// instances and servers starting together) answers with timeouts for a
	// few seconds: retry (retry.LogSetup) rather than fail the start.
	attempt := 0
	b.stream, err = backoff.Retry(ctx, func() (jetstream.Stream, error) {
		attempt++
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return b.openStream(sctx, scfg, cfg)
	}, retry.LogSetup().Options(func(err error, wait time.Duration) {
		b.log.Warn("cannot create the tick stream yet; retrying", "attempt", attempt, "err", err, "retry_in", wait)
	})...)
	if errors.Is(err, ErrLayoutMismatch) {
		b.abort()
		return nil, fmt.Errorf("open stream %s: %w", StreamName, err)
	}
	if err != nil {
		b.abort()
		return nil, fmt.Errorf("create stream %s: %w: %w", StreamName, market.ErrUnavailable, err)
	}
	b.maxTicks = MaxTicksPerMessage
	if mp := int(nc.MaxPayload()); mp > 0 {
		b.maxTicks = min(b.maxTicks, (mp-64)/tickSize)
	}
	b.log.Info("event log open", "embedded", b.srv != nil, "stream", StreamName,
		"replicas", cfg.Replicas, "max_age", cfg.MaxAge, "mirror_of_domain", cfg.MirrorDomain)
	return b, nil
}

// streamConfig is the tick stream's configuration for cfg (defaults applied).
func streamConfig(cfg Config) jetstream.StreamConfig {
	dup := min(2*time.Minute, cfg.MaxAge)
	maxBytes := cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = -1
	}
	scfg := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "findash tick log: one message per symbol per batch",
		Subjects:    []string{subjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    maxBytes,
		Duplicates:  dup,
	}
	scfg.Metadata = map[string]string{LayoutKey: strconv.Itoa(cfg.Partitions)}
	if cfg.Partitions > 0 {
		scfg.SubjectTransform = &jetstream.SubjectTransformConfig{Source: subjectPrefix + "*", Destination: partitionDest(cfg.Partitions)}
	}
	if cfg.MirrorDomain != "" {
		scfg = mirrorConfig(scfg, cfg.MirrorDomain)
	}
	return scfg
}

func startEmbedded(dataDir string, log *slog.Logger) (*server.Server, error) {
	if dataDir == "" {
		return nil, errors.New("bus: DataDir is required for the embedded NATS server")
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "findash-embedded",
		DontListen: true,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "nats"),
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.SetLoggerV2(serverLogger{log}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 30s: %w", market.ErrUnavailable)
	}
	return srv, nil
}

// abort closes what Open had opened, after a failure.
func (b *Bus) abort() {
	b.nc.Close()
	b.shutdownServer()
}

func (b *Bus) shutdownServer() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// Close drains the connection (pending publishes and acks finish, consumers
// stop), waits for the drain to finish or ctx to end, then shuts the embedded
// server down. Stop consumers (cancel their contexts) before calling Close.
func (b *Bus) Close(ctx context.Context) error {
	var err error
	if derr := b.nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
		err = fmt.Errorf("drain nats: %w", derr)
	}
	select {
	case <-b.closed:
	case <-ctx.Done():
		b.nc.Close()
		err = errors.Join(err, fmt.Errorf("drain nats: %w", ctx.Err()))
	}
	b.shutdownServer()
	return err
}

// Check reports whether the log is usable: connected, and JetStream answers
// for the tick stream. For /readyz.
func (b *Bus) Check(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("nats %s: %w", b.nc.Status(), market.ErrUnavailable)
	}
	if _, err := b.stream.Info(ctx); err != nil {
		return fmt.Errorf("stream %s info: %w: %w", StreamName, market.ErrUnavailable, err)
	}
	return nil
}

// LastSeq returns the stream sequence of the newest message in the log
// (0 when the log has never held a message).
func (b *Bus) LastSeq(ctx context.Context) (uint64, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w: %w", StreamName, market.ErrUnavailable, err)
	}
	return info.State.LastSeq, nil
}

// SeqAt returns the stream sequence of the first message the log stored at
// or after t; LastSeq+1 when there is none, the first held sequence when
// every held message is newer than t.
func (b *Bus) SeqAt(ctx context.Context, t time.Time) (uint64, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w: %w", StreamName, market.ErrUnavailable, err)
	}
	st := info.State
	switch {
	case st.Msgs == 0 || st.LastTime.Before(t):
		return st.LastSeq + 1, nil
	case !st.FirstTime.Before(t):
		return st.FirstSeq, nil
	}
	cons, err := b.js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &t,
		InactiveThreshold: 5 * time.Second,
	})
	if err != nil {
		return 0, fmt.Errorf("seq at %s: %w: %w", t, market.ErrUnavailable, err)
	}
	wait := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = max(time.Until(d), time.Millisecond)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(wait))
	if err != nil {
		return 0, fmt.Errorf("seq at %s: %w: %w", t, market.ErrUnavailable, err)
	}
	seq, err := streamSeqOf(msg)
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// Append writes ticks to the log and returns once the log has stored all of
// them. Each run of consecutive ticks of one symbol becomes one message (split
// every MaxTicksPerMessage ticks), published asynchronously; Append then waits
// for every acknowledgement. On success each tick's Seq is set. On error
// (NATS down, ack timeout, ctx ended) it wraps market.ErrUnavailable, and
// nothing may be assumed stored — although some messages may have been.
// The caller validates the ticks.
func (b *Bus) Append(ctx context.Context, ticks []market.Tick) error {
	if len(ticks) == 0 {
		return nil
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("append: nats %s: %w", b.nc.Status(), market.ErrUnavailable)
	}
	// Size the one buffer every message of this call lives in until acked.
	size, msgs := 0, 0
	forEachRun(ticks, b.maxTicks, func(run []market.Tick) {
		size += encodedLen(run[0].Symbol, len(run))
		msgs++
	})
	buf := make([]byte, 0, size)
	futs := make([]jetstream.PubAckFuture, 0, msgs)
	var pubErr error
	forEachRun(ticks, b.maxTicks, func(run []market.Tick) {
		if pubErr != nil {
			return
		}
		start := len(buf)
		buf = appendMessage(buf, run)
		f, err := b.js.PublishAsync(Subject(run[0].Symbol), buf[start:len(buf):len(buf)])
		if err != nil {
			pubErr = err
			return
		}
		futs = append(futs, f)
	})
	if pubErr != nil {
		return fmt.Errorf("append %d ticks: publish: %w: %w", len(ticks), market.ErrUnavailable, pubErr)
	}
	seqs := make([]uint64, len(futs))
	for i, f := range futs {
		select {
		case ack := <-f.Ok():
			seqs[i] = ack.Sequence
		case err := <-f.Err():
			return fmt.Errorf("append %d ticks: ack: %w: %w", len(ticks), market.ErrUnavailable, err)
		case <-ctx.Done():
			return fmt.Errorf("append %d ticks: waiting for acks: %w: %w", len(ticks), market.ErrUnavailable, ctx.Err())
		}
	}
	i := 0
	forEachRun(ticks, b.maxTicks, func(run []market.Tick) {
		for k := range run {
			run[k].Seq = TickSeq(seqs[i], k)
		}
		i++
	})
	return nil
}

// forEachRun calls fn for each run of consecutive ticks of one symbol, at
// most max ticks long.
func forEachRun(ticks []market.Tick, max int, fn func(run []market.Tick)) {
	for i := 0; i < len(ticks); {
		j := i + 1
		for j < len(ticks) && j-i < max && ticks[j].Symbol == ticks[i].Symbol {
			j++
		}
		fn(ticks[i:j])
		i = j
	}
}

// streamSeqOf returns the stream sequence of a delivered message.
func streamSeqOf(msg jetstream.Msg) (uint64, error) {
	md, err := msg.Metadata()
	if err != nil {
		return 0, fmt.Errorf("message metadata: %w", err)
	}
	return md.Sequence.Stream, nil
}

// serverLogger sends the embedded server's log to slog. Its notices (a
// start-up banner of dozens of lines) go to debug.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

// olderThan reports whether the server version v ("2.9.10", "v2.11.0-RC.1")
// is below major.minor; an unparsable version is not.
func olderThan(v string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.SplitN(parts[1], "-", 2)[0])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma < major || (ma == major && mi < minor)
}
