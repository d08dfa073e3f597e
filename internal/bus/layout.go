package bus

// The partition layout guard (decision 0044): the number of partitions is
// the log's, not one instance's. An instance that opened the log with
// another count would rewrite the stream's subject transform, and from then
// on a symbol's ticks would land in another partition than the one a
// running worker persists and evaluates: two workers owning one symbol,
// positions that mean nothing, ticks written twice or never.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// LayoutKey is the stream metadata key that records the number of
// partitions the log was created with ("0": unpartitioned). Every Open
// compares it with Config.Partitions.
const LayoutKey = "findash_log_partitions"

// ErrLayoutMismatch means the log is split into another number of partitions
// than the instance was configured with, and no change was asked for
// (Config.Repartition). It is not market.ErrUnavailable: retrying cannot
// help, the configuration must change.
var ErrLayoutMismatch = errors.New("log partition layout mismatch")

// storedPartitions returns the number of partitions the existing stream
// with configuration c is split into. known is false only for a mirror
// created before the layout was recorded: it has no transform of its own
// to read the layout from.
func storedPartitions(c jetstream.StreamConfig) (n int, known bool, err error) {
	if v, ok := c.Metadata[LayoutKey]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("stream %s metadata %s=%q, not a partition count: %w", StreamName, LayoutKey, v, ErrLayoutMismatch)
		}
		return n, true, nil
	}
	// A stream created before the layout was recorded: its transform is
	// the layout.
	if c.Mirror != nil {
		return 0, false, nil
	}
	if c.SubjectTransform == nil {
		return 0, true, nil
	}
	return parsePartitionDest(c.SubjectTransform.Destination)
}

// parsePartitionDest is the inverse of partitionDest: the n of a
// destination it produced; an error for any other destination.
func parsePartitionDest(dest string) (int, bool, error) {
	const head = subjectPrefix + "{{partition("
	rest, ok := strings.CutPrefix(dest, head)
	if ok {
		if num, _, ok := strings.Cut(rest, ","); ok {
			if n, err := strconv.Atoi(num); err == nil && n > 0 && partitionDest(n) == dest {
				return n, true, nil
			}
		}
	}
	return 0, false, fmt.Errorf("stream %s has a subject transform findash did not make (%q): %w", StreamName, dest, ErrLayoutMismatch)
}

// checkLayout refuses to open the existing stream with configuration
// existing when cfg asks for another number of partitions than the stream
// holds, unless cfg.Repartition names the stored count as the one to change.
func checkLayout(existing jetstream.StreamConfig, cfg Config) error {
	stored, known, err := storedPartitions(existing)
	if err != nil || !known || stored == cfg.Partitions {
		return err
	}
	if cfg.Repartition && cfg.PartitionsFrom == stored {
		return nil
	}
	return fmt.Errorf("%w: the tick log %s is %s, this instance is configured with --log-partitions %d (FINDASH_LOG_PARTITIONS): "+
		"run every instance with %d, or change the layout as docs/operations.md (\"Changing N\") says: drain the log, then start with --log-partitions %d --log-partitions-from %d",
		ErrLayoutMismatch, StreamName, layoutName(stored), cfg.Partitions, stored, cfg.Partitions, stored)
}

// layoutName says how a log of n partitions is split, for messages.
func layoutName(n int) string {
	if n == 0 {
		return "unpartitioned (0 partitions)"
	}
	return "split into " + strconv.Itoa(n) + " partitions"
}

// openStream creates the tick stream with scfg, or checks the existing
// one's layout against cfg (checkLayout) and updates it only when one of
// scfg's settings differs, reading the layout back after. Two instances
// creating the stream at once: the second's create fails (the name is in
// use with another configuration) and its next attempt checks the first's
// layout rather than overwrite it. A mismatch is permanent: the caller's
// retries stop.
func (b *Bus) openStream(ctx context.Context, scfg jetstream.StreamConfig, cfg Config) (jetstream.Stream, error) {
	if cfg.MirrorDomain != "" {
		if err := b.checkPrimaryLayout(ctx, cfg); err != nil {
			return nil, backoff.Permanent(err)
		}
	}
	s, err := b.js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return b.js.CreateStream(ctx, scfg)
	}
	if err != nil {
		return nil, err
	}
	existing := s.CachedInfo().Config
	if err := checkLayout(existing, cfg); err != nil {
		return nil, backoff.Permanent(err)
	}
	if settingsMatch(existing, scfg) {
		// Nothing to change: only a deliberate change writes, so an
		// instance that read the layout just before another changed it
		// cannot write the old one back.
		return s, nil
	}
	if stored, known, _ := storedPartitions(existing); known && stored != cfg.Partitions {
		b.log.Warn("the tick log's partition layout changes as asked (--log-partitions-from): messages from now on go to the new partitions",
			"from", stored, "to", cfg.Partitions)
	}
	s, err = b.js.UpdateStream(ctx, scfg)
	if err != nil {
		return nil, err
	}
	// Read the layout back: an instance that changed it at the same time
	// may have written last.
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	stored, known, err := storedPartitions(info.Config)
	if err != nil {
		return nil, backoff.Permanent(err)
	}
	if known && stored != cfg.Partitions {
		return nil, backoff.Permanent(fmt.Errorf("%w: the tick log %s is %s right after this instance set %d partitions: another instance changed it at the same time",
			ErrLayoutMismatch, StreamName, layoutName(stored), cfg.Partitions))
	}
	return s, nil
}

// settingsMatch reports whether the existing stream already has every
// setting scfg makes. The server fills in some (a default duplicates window,
// its own metadata keys), so only what scfg sets is compared; a setting the
// server writes differently makes openStream update, as it always did.
func settingsMatch(existing, scfg jetstream.StreamConfig) bool {
	return existing.Description == scfg.Description &&
		slices.Equal(existing.Subjects, scfg.Subjects) &&
		existing.Retention == scfg.Retention && existing.Discard == scfg.Discard &&
		existing.Storage == scfg.Storage && existing.Replicas == scfg.Replicas &&
		existing.MaxAge == scfg.MaxAge && existing.MaxBytes == scfg.MaxBytes &&
		(scfg.Duplicates == 0 || existing.Duplicates == scfg.Duplicates) &&
		existing.Metadata[LayoutKey] == scfg.Metadata[LayoutKey] &&
		reflect.DeepEqual(existing.SubjectTransform, scfg.SubjectTransform) &&
		mirrorMatch(existing.Mirror, scfg.Mirror)
}

// mirrorMatch reports whether the existing stream's mirror source is want
// (Name and Domain set, as mirrorConfig makes it): the server keeps a domain
// as the API prefix it stands for.
func mirrorMatch(existing, want *jetstream.StreamSource) bool {
	if existing == nil || want == nil {
		return existing == want
	}
	domain := existing.Domain == want.Domain ||
		existing.Domain == "" && existing.External != nil && existing.External.APIPrefix == "$JS."+want.Domain+".API"
	return domain && existing.Name == want.Name && existing.OptStartSeq == want.OptStartSeq &&
		existing.FilterSubject == want.FilterSubject && len(existing.SubjectTransforms) == 0 && len(want.SubjectTransforms) == 0 &&
		existing.Consumer == nil && want.Consumer == nil
}

// primaryLayoutWait bounds the look at the primary region's log: a mirror
// region must start while cut off from the primary, so an unanswered look
// is not an error.
const primaryLayoutWait = 2 * time.Second

// checkPrimaryLayout compares cfg with the layout of the primary region's
// log (the stream of JetStream domain cfg.MirrorDomain, over the link) when
// the primary answers within primaryLayoutWait: a mirror region whose
// instances split the log otherwise would apply positions to the wrong
// partitions. A log created before layouts were recorded is read from its
// transform (storedPartitions). A primary that does not answer (the link
// down) is not checked; the mirror's own recorded layout still is
// (checkLayout).
func (b *Bus) checkPrimaryLayout(ctx context.Context, cfg Config) error {
	pjs, err := jetstream.NewWithDomain(b.nc, cfg.MirrorDomain)
	if err != nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, primaryLayoutWait)
	defer cancel()
	s, err := pjs.Stream(pctx, StreamName)
	if err != nil {
		b.log.Info("the primary region's log layout could not be read; not checked", "domain", cfg.MirrorDomain, "err", err)
		return nil
	}
	// Read as the local check reads it: from the metadata, or for a log
	// created before it was recorded, from its transform.
	if err := checkLayout(s.CachedInfo().Config, Config{Partitions: cfg.Partitions}); err != nil {
		return fmt.Errorf("the primary region's log (JetStream domain %s): %w", cfg.MirrorDomain, err)
	}
	return nil
}
