package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// Leases are expiring, fenced leases; *bus.Leases implements them. Acquire
// and Renew fail with an error matching market.ErrConflict when another
// holder has the lease.
type Leases interface {
	// Acquire takes key for owner if nobody holds it, returning the
	// lease's revision.
	Acquire(ctx context.Context, key, owner string) (uint64, error)
	// Renew extends key held at rev, returning the new revision.
	Renew(ctx context.Context, key, owner string, rev uint64) (uint64, error)
	// Release gives key up if still held at rev.
	Release(ctx context.Context, key string, rev uint64) error
	// Count returns how many live leases have keys starting with prefix.
	Count(ctx context.Context, prefix string) (int, error)
	// TTL is how long a lease lives without renewal.
	TTL() time.Duration
}

// Work runs partition part's work until ctx ends, then returns (nil after
// a clean stop). It is called again each time the partition is acquired.
type Work func(ctx context.Context, part int) error

// Key is the lease key of partition p.
func Key(p int) string { return "partition." + strconv.Itoa(p) }

const workerPrefix = "worker."

// Owner keeps its share of the partitions' leases and runs their Work.
// Create it with New, start it with Run.
type Owner struct {
	leases Leases
	n      int
	id     string
	work   Work
	log    *slog.Logger

	owned        *prometheus.GaugeVec
	acquisitions prometheus.Counter
	losses       prometheus.Counter
	restarts     prometheus.Counter
	workers      prometheus.Gauge
}

// New returns an Owner of n partitions (n > 0) for the worker named id
// (unique among the workers: a pod name plus a random suffix). Metrics are
// registered on reg when it is not nil.
func New(leases Leases, n int, id string, work Work, log *slog.Logger, reg prometheus.Registerer) *Owner {
	o := &Owner{
		leases: leases, n: n, id: id, work: work, log: log.With("component", "partitions", "worker", id),
		owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "findash_partition_owned", Help: "1 for each log partition this worker holds the lease of and runs the persister and alert evaluator of, 0 otherwise; summed over pods, 1 per partition.",
		}, []string{"partition"}),
		acquisitions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_partition_lease_acquisitions_total", Help: "Partition leases this worker acquired.",
		}),
		losses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_partition_lease_losses_total", Help: "Partition leases this worker lost without releasing them: a renewal refused (another worker took the expired lease) or failed (the log unreachable); the partition's work stopped at once.",
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_partition_work_restarts_total", Help: "Times a held partition's work (persister and alert evaluator) ended on its own and was started again at the next renewal.",
		}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_partition_workers", Help: "Live workers this worker counted at its last round (each announces itself with a lease).",
		}),
	}
	for p := range n {
		o.owned.WithLabelValues(strconv.Itoa(p)).Set(0)
	}
	if reg != nil {
		reg.MustRegister(o.owned, o.acquisitions, o.losses, o.restarts, o.workers)
	}
	return o
}

// held is one partition this Owner holds (or held until a failed renewal).
type held struct {
	rev     uint64
	running bool
	stop    context.CancelFunc
	done    chan struct{}
}

// Run keeps the leases until ctx ends, then stops every partition's work,
// releases the leases and returns nil. It returns an error only if the
// first announcement fails for a reason other than ctx.
func (o *Owner) Run(ctx context.Context) error {
	ttl := o.leases.TTL()
	round := ttl / 3
	parts := map[int]*held{}
	me := workerPrefix + o.id
	var meRev uint64
	defer func() {
		// The drain: stop the work (each flushes what it holds), then
		// hand the leases over at once.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
		defer cancel()
		for p, h := range parts {
			o.stopWork(p, h)
		}
		for _, h := range parts {
			<-h.done
		}
		for p, h := range parts {
			if err := o.leases.Release(rctx, Key(p), h.rev); err != nil {
				o.log.Warn("cannot release a partition lease; it passes when it expires", "partition", p, "err", err)
			}
		}
		if meRev != 0 {
			o.leases.Release(rctx, me, meRev)
		}
		o.log.Info("partitions released", "partitions", len(parts))
	}()

	t := time.NewTicker(round)
	defer t.Stop()
	for {
		// Every call is bounded by a round, so that a log that does not
		// answer cannot hold the loop past the leases' expiry: the work of
		// a lease not renewed in time is stopped at the next round.
		cctx, cancel := context.WithTimeout(ctx, round)
		// Announce (or keep announcing) this worker.
		var err error
		if meRev == 0 {
			meRev, err = o.leases.Acquire(cctx, me, o.id)
		} else if meRev, err = o.leases.Renew(cctx, me, o.id, meRev); err != nil {
			meRev = 0
		}
		if err != nil && ctx.Err() == nil {
			o.log.Warn("cannot announce this worker", "err", err)
		}
		o.renew(ctx, cctx, parts)
		if meRev != 0 {
			o.balance(ctx, cctx, parts)
		}
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// renew renews every held lease (calls bounded by cctx; the work runs
// under ctx); one refused is dropped, one failed has its work stopped (and
// resumed by a later successful renewal).
func (o *Owner) renew(ctx, cctx context.Context, parts map[int]*held) {
	for p, h := range parts {
		rev, err := o.leases.Renew(cctx, Key(p), o.id, h.rev)
		switch {
		case err == nil:
			h.rev = rev
			if h.running && ended(h.done) {
				// The work returned on its own (a persister or evaluator
				// gave up): holding the lease with nothing running would
				// leave the partition unprocessed while it looks owned.
				// Start it again from its stored position, at most once
				// a round.
				o.stopWork(p, h)
				o.restarts.Inc()
				o.log.Warn("partition work ended while its lease is held; starting it again", "partition", p)
			}
			if !h.running {
				<-h.done // the stopped run has finished its final write
				o.startWork(ctx, p, h)
			}
		case ctx.Err() != nil:
			return
		case errors.Is(err, market.ErrConflict):
			o.stopWork(p, h)
			<-h.done
			delete(parts, p)
			o.losses.Inc()
			o.log.Warn("partition lease lost to another worker; its work stopped", "partition", p)
		default:
			if h.running {
				o.stopWork(p, h)
				o.losses.Inc()
				o.log.Warn("cannot renew a partition lease; its work stopped until a renewal succeeds", "partition", p, "err", err)
			}
		}
	}
}

// balance acquires free partitions up to this worker's share, or releases
// what it holds beyond it (so that a new worker gets its share).
func (o *Owner) balance(ctx, cctx context.Context, parts map[int]*held) {
	live, err := o.leases.Count(cctx, workerPrefix)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("cannot count the live workers", "err", err)
		}
		return
	}
	live = max(live, 1)
	o.workers.Set(float64(live))
	share := (o.n + live - 1) / live
	for p, h := range parts {
		if len(parts) <= share {
			break
		}
		o.stopWork(p, h)
		<-h.done
		if err := o.leases.Release(cctx, Key(p), h.rev); err != nil {
			o.log.Warn("cannot release a partition lease; it passes when it expires", "partition", p, "err", err)
		}
		delete(parts, p)
		o.log.Info("partition handed over to balance the workers", "partition", p, "share", share)
	}
	// Start at a random partition, so that workers starting together do
	// not all try the same ones first.
	start := rand.IntN(o.n)
	for i := 0; i < o.n && len(parts) < share; i++ {
		p := (start + i) % o.n
		if _, ok := parts[p]; ok {
			continue
		}
		rev, err := o.leases.Acquire(cctx, Key(p), o.id)
		if errors.Is(err, market.ErrConflict) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				o.log.Warn("cannot acquire a partition lease", "partition", p, "err", err)
			}
			return
		}
		h := &held{rev: rev}
		parts[p] = h
		o.acquisitions.Inc()
		o.log.Info("partition acquired", "partition", p, "share", share, "workers", live)
		o.startWork(ctx, p, h)
	}
}

// startWork runs partition p's work in a goroutine of its own.
func (o *Owner) startWork(ctx context.Context, p int, h *held) {
	wctx, stop := context.WithCancel(ctx)
	h.stop, h.done, h.running = stop, make(chan struct{}), true
	o.owned.WithLabelValues(strconv.Itoa(p)).Set(1)
	go func(done chan struct{}) {
		defer close(done)
		if err := o.work(wctx, p); err != nil && wctx.Err() == nil {
			o.log.Error("partition work failed", "partition", p, "err", fmt.Errorf("partition %d: %w", p, err))
		}
	}(h.done)
}

// ended reports whether done is closed (the work has returned).
func ended(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// stopWork stops partition p's work (if running) without waiting for it.
func (o *Owner) stopWork(p int, h *held) {
	if !h.running {
		return
	}
	h.stop()
	h.running = false
	o.owned.WithLabelValues(strconv.Itoa(p)).Set(0)
}
