package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/partition"
	"github.com/findash/findash/internal/persist"
)

// leaseBucket is the NATS key-value bucket of the partition leases and
// the workers' announcements (decision 0042).
const leaseBucket = "FINDASH_PARTITIONS"

// partitionLog is the event log restricted to one partition: what a
// partition's persister and alert evaluator read.
type partitionLog struct {
	b *bus.Bus
	p int
}

// Consume reads partition p's messages from stream sequence from on.
func (l partitionLog) Consume(ctx context.Context, from uint64, fn func(uint64, []market.Tick) error) error {
	return l.b.ConsumePartitions(ctx, []int{l.p}, from, fn)
}

// LastSeq is partition p's newest message (the persister's lag is the
// partition's, so the lags summed over the workers are the log's).
func (l partitionLog) LastSeq(ctx context.Context) (uint64, error) { return l.b.LastSeqOf(ctx, l.p) }

// partitionWork is the worker's work per partition: one persister and one
// alert evaluator, built at the partition's first acquisition (their
// metrics, labelled with the partition, registered once) and run each time
// it is held.
type partitionWork struct {
	in    *app
	cfg   persist.Config
	acfg  alert.Config
	mu    sync.Mutex // guards built
	built map[int]*partitionRun
}

type partitionRun struct {
	pers *persist.Persister
	eval *alert.Evaluator
}

func (w *partitionWork) of(p int) *partitionRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.built[p]; r != nil {
		return r
	}
	in := w.in
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"partition": strconv.Itoa(p)}, in.reg)
	log := partitionLog{b: in.bus, p: p}
	r := &partitionRun{
		pers: persist.NewPartition(log, in.st, p, w.cfg, in.log, reg),
		eval: alert.NewPartitionEvaluator(log, p, in.st, in.st, in.bus, in.queue, w.acfg, in.log, reg),
	}
	w.built[p] = r
	return r
}

// run runs partition p's persister and evaluator until ctx ends or one of
// them stops on its own (a persister whose final flush failed, an
// evaluator whose log consumer failed); then it stops the other too, so
// that run returns and the Owner starts both again at its next renewal
// rather than holding the partition with half its work gone. Both finish
// (the persister's final write) before it returns.
func (w *partitionWork) run(ctx context.Context, p int) error {
	r := w.of(p)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- r.pers.Run(ctx) }()
	go func() { errs <- r.eval.Run(ctx) }()
	var first error
	for range 2 {
		err := <-errs
		cancel()
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// workerID names this worker among the others: the host (the pod's name)
// and a random suffix, so that a restarted pod is a new worker whose
// announcement does not collide with its predecessor's unexpired one.
func workerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	var b [4]byte
	rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// addPartitionedWorker runs the worker's share of the partitions
// (partition.Owner) in place of one persister and one evaluator of the
// whole log.
func (in *app) addPartitionedWorker(ctx context.Context, pcfg persist.Config, acfg alert.Config) error {
	leases, err := in.bus.OpenLeases(ctx, leaseBucket, in.cfg.LeaseTTL)
	if err != nil {
		return fmt.Errorf("partition leases: %w", err)
	}
	w := &partitionWork{in: in, cfg: pcfg, acfg: acfg, built: map[int]*partitionRun{}}
	owner := partition.New(leases, in.cfg.LogPartitions, workerID(), w.run, in.log, in.reg)
	in.r.add(layerLog, "partitions", owner)
	return nil
}
