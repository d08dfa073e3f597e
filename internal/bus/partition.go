package bus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/findash/findash/internal/market"
)

// partitionDest is the stream's subject transform destination for n
// partitions: the server hashes the symbol token (partition(), FNV-1a over
// the token, documented as deterministic) into 0..n-1 and stores the
// message as findash.ticks.<p>.<token>. One symbol always lands in one
// partition, so each partition holds every tick of its symbols, in log
// order.
func partitionDest(n int) string {
	return subjectPrefix + "{{partition(" + strconv.Itoa(n) + ",1)}}.{{wildcard(1)}}"
}

// PartitionOfSymbol returns the partition of n a partitioned log stores
// symbol's messages in: what the server's partition(n,1) transform computes,
// FNV-1a (32 bit) over the subject token, modulo n. Readers of the whole
// log use it to tell which partition's position a message falls under
// (TestPartitionsSplitBySymbol checks it against the server). n must be
// above 0.
func PartitionOfSymbol(symbol string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(Subject(symbol)[len(subjectPrefix):]))
	return int(h.Sum32() % uint32(n))
}

// LastSeqOf returns the stream sequence of the newest message of partition
// p of a partitioned log, 0 when the partition holds none.
func (b *Bus) LastSeqOf(ctx context.Context, p int) (uint64, error) {
	m, err := b.stream.GetLastMsgForSubject(ctx, PartitionFilter(p))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last message of partition %d: %w: %w", p, market.ErrUnavailable, err)
	}
	return m.Sequence, nil
}

// PartitionFilter is the subject filter of partition p of a partitioned log.
func PartitionFilter(p int) string { return subjectPrefix + strconv.Itoa(p) + ".*" }

// PartitionOf returns the partition a message subject of a partitioned log
// names; ok is false for an unpartitioned subject.
func PartitionOf(subject string) (p int, ok bool) {
	rest, ok := strings.CutPrefix(subject, subjectPrefix)
	if !ok {
		return 0, false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == '.' {
			n, err := strconv.Atoi(rest[:i])
			return n, err == nil && n >= 0
		}
	}
	return 0, false
}

// ConsumePartitions is Consume restricted to the partitions parts of a
// partitioned log: fn sees, in log order, only the messages of those
// partitions (each symbol's ticks in order, since a symbol lives in one
// partition). from is a stream sequence, as for Consume.
func (b *Bus) ConsumePartitions(ctx context.Context, parts []int, from uint64, fn func(streamSeq uint64, ticks []market.Tick) error) error {
	if len(parts) == 0 {
		return errors.New("consume partitions: no partition given")
	}
	filters := make([]string, len(parts))
	for i, p := range parts {
		filters[i] = PartitionFilter(p)
	}
	return b.consume(ctx, filters, from, fn)
}

// Leases are partition leases in a NATS key-value bucket whose entries
// expire after a TTL: a holder keeps its lease by renewing it (a
// compare-and-set on the revision it holds) well within the TTL; a holder
// that dies stops renewing, and once the entry has expired any other
// worker's Acquire succeeds. Every operation is a single round trip; the
// revision is the fencing token.
type Leases struct {
	kv  jetstream.KeyValue
	ttl time.Duration
}

// OpenLeases creates or opens the lease bucket named bucket with entries
// living ttl (at least 1 s: the server's expiry granularity).
func (b *Bus) OpenLeases(ctx context.Context, bucket string, ttl time.Duration) (*Leases, error) {
	if ttl < time.Second {
		return nil, fmt.Errorf("lease ttl %s: below 1s", ttl)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, TTL: ttl, History: 1, Storage: jetstream.FileStorage,
		Description: "findash partition leases (decision 0041)",
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w: %w", bucket, market.ErrUnavailable, err)
	}
	return &Leases{kv: kv, ttl: ttl}, nil
}

// TTL is how long a lease lives without renewal.
func (l *Leases) TTL() time.Duration { return l.ttl }

// ErrLeaseHeld means another holder has the lease (Acquire) or took it
// over (Renew). It matches market.ErrConflict, so that the lease's users
// need not import the bus.
var ErrLeaseHeld = fmt.Errorf("lease held by another worker: %w", market.ErrConflict)

// Acquire takes lease key for owner when nobody holds it (no entry, or one
// deleted or expired) and returns its revision; ErrLeaseHeld when held.
func (l *Leases) Acquire(ctx context.Context, key, owner string) (uint64, error) {
	rev, err := l.kv.Create(ctx, key, []byte(owner))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrLeaseHeld
	}
	if err != nil {
		return 0, fmt.Errorf("acquire lease %s: %w: %w", key, market.ErrUnavailable, err)
	}
	return rev, nil
}

// Renew extends lease key held at revision rev and returns the new
// revision; ErrLeaseHeld when the lease expired and another took it (or
// anything else changed it).
func (l *Leases) Renew(ctx context.Context, key, owner string, rev uint64) (uint64, error) {
	nrev, err := l.kv.Update(ctx, key, []byte(owner), rev)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, ErrLeaseHeld
		}
		return 0, fmt.Errorf("renew lease %s: %w: %w", key, market.ErrUnavailable, err)
	}
	return nrev, nil
}

// Release gives lease key up if it is still held at rev, so another worker
// can take it at once rather than after the TTL.
func (l *Leases) Release(ctx context.Context, key string, rev uint64) error {
	if err := l.kv.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
		return fmt.Errorf("release lease %s: %w", key, err)
	}
	return nil
}

// Holder returns the owner holding lease key, "" when nobody does.
func (l *Leases) Holder(ctx context.Context, key string) (string, error) {
	e, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease %s: %w: %w", key, market.ErrUnavailable, err)
	}
	return string(e.Value()), nil
}

// Count returns how many live (unexpired, undeleted) leases have keys
// starting with prefix: the workers announce themselves as leases
// "worker.<id>", so Count("worker.") is how many are alive.
func (l *Leases) Count(ctx context.Context, prefix string) (int, error) {
	lister, err := l.kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return 0, fmt.Errorf("list leases %s*: %w: %w", prefix, market.ErrUnavailable, err)
	}
	defer lister.Stop() // the channel ended it already: its error says so
	n := 0
	for range lister.Keys() {
		n++
	}
	return n, nil
}
