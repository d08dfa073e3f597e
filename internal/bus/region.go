package bus

// Regions (decision 0036): one region holds the tick log, every other
// region holds a mirror of it.

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/findash/findash/internal/market"
)

// mirrorConfig turns the primary log's stream configuration into the one of
// a region that mirrors the primary region's log, the stream StreamName of
// the JetStream domain domain, over the NATS link between the regions.
//
// A mirror keeps the origin's stream sequences, so a tick's seq
// (streamSeq<<16 | index) is the same in every region: a client resumes
// with since in any region, and a tick acknowledged by the primary is
// never renumbered. A mirror takes no subjects: a tick published in this
// region travels to the primary's stream (whose subjects' interest crosses
// the link) and comes back through the mirror. It has no duplicate window
// either: it stores what the origin stored, deduplicated there.
func mirrorConfig(primary jetstream.StreamConfig, domain string) jetstream.StreamConfig {
	c := primary
	c.Description = "findash tick log: mirror of the log of JetStream domain " + domain
	c.Subjects = nil
	c.SubjectTransform = nil
	c.Duplicates = 0
	c.Mirror = &jetstream.StreamSource{Name: StreamName, Domain: domain}
	return c
}

// MirrorState is the health of a region's mirror of the primary region's log.
type MirrorState struct {
	// Mirrored is false when this region holds the primary log; the other
	// fields are then zero.
	Mirrored bool
	// Active is how long ago the mirror last heard from the primary: a
	// message or the origin's heartbeat, sent every second even when no tick
	// flows. Negative when it never has since this server started.
	Active time.Duration
	// Lag is how many messages the primary held beyond the mirror when they
	// last spoke.
	Lag uint64
	// Err is the mirror's error as the server reports it ("" when none).
	Err string
}

// MirrorState reports whether the log is a mirror and how its link to the
// primary region is doing, from the local server's stream information.
// Errors wrap market.ErrUnavailable.
func (b *Bus) MirrorState(ctx context.Context) (MirrorState, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return MirrorState{}, fmt.Errorf("stream %s info: %w: %w", StreamName, market.ErrUnavailable, err)
	}
	m := info.Mirror
	if info.Config.Mirror == nil || m == nil {
		return MirrorState{}, nil
	}
	st := MirrorState{Mirrored: true, Active: m.Active, Lag: m.Lag}
	if m.Error != nil {
		st.Err = m.Error.Error()
	}
	return st, nil
}
