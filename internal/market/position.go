package market

import "math"

// Unpartitioned is the partition number of the unpartitioned event log (a
// log without partitions, and stage 1): its readers' positions are stored
// under it.
const Unpartitioned = -1

// Positions are the log positions one reader kind (the persister, the alert
// evaluator) has stored, by partition: the stream sequence of the last log
// message applied, with Unpartitioned (-1) for the unpartitioned log. A
// partition with no entry has applied nothing.
//
// Of reads them so that switching the partition count — 0 to N, N to M, N
// to 0 — with a drained log (every reader caught up, decision 0042) needs
// no migration: every message of a new layout lies above every stored
// position.
type Positions map[int]uint64

// Of returns where reading partition p resumes after: for a partition, the
// larger of its own position and the unpartitioned one (a partition that
// has applied nothing yet starts after what the unpartitioned reader
// applied before the switch); for Unpartitioned, the largest position of
// all (after a switch back from partitions). 0 when nothing was applied.
func (ps Positions) Of(p int) uint64 {
	if p != Unpartitioned {
		return max(ps[Unpartitioned], ps[p])
	}
	var m uint64
	for _, s := range ps {
		m = max(m, s)
	}
	return m
}

// CheckBatch validates what a store's WriteBatch is given before it writes
// anything: a partition (Unpartitioned or above) and sequences a signed
// 64-bit column holds — both stores keep them as int64, where a larger
// sequence would wrap negative and break ordering (and idempotency)
// silently. Its errors are ErrInvalid.
func CheckBatch(part int, ticks []Tick, logSeq uint64) error {
	if part < Unpartitioned {
		return Invalid("partition", "%d is not a partition", part)
	}
	if logSeq > math.MaxInt64 {
		return Invalid("log_seq", "%d exceeds 2^63-1", logSeq)
	}
	for i := range ticks {
		if ticks[i].Seq > math.MaxInt64 {
			return Invalid("seq", "%d exceeds 2^63-1", ticks[i].Seq)
		}
	}
	return nil
}
