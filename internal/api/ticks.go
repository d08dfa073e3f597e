package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/findash/findash/internal/market"
)

// Bounds of GET /api/v1/ticks/{symbol} (docs/security.md "Archive").
const (
	// maxTickRangeMs bounds to - from: 31 days, so one request reads at
	// most 31 days of archive manifests.
	maxTickRangeMs = 31 * 24 * 3600 * 1000
	// defaultTickRangeMs is the range when from is absent: the hour
	// before to.
	defaultTickRangeMs = 3600 * 1000
)

// TickReader reads stored ticks (satisfied by the SQL stores).
type TickReader interface {
	// TicksAfter returns symbol's ticks after (afterTS, afterSeq) with
	// ts <= to, ordered by (ts, seq), at most limit: a keyset read, so a
	// cursor inside a millisecond of many ticks pages on (a read by ts
	// alone would have to skip the ticks before it, without bound). An
	// afterSeq above 2^63-1 means after every tick of afterTS.
	TicksAfter(ctx context.Context, symbol string, afterTS int64, afterSeq uint64, to int64, limit int) ([]market.Tick, error)
}

// ArchivedPage is one bounded read of the tick archive.
type ArchivedPage struct {
	// Ticks are the archived ticks read, ordered by (ts, seq).
	Ticks []market.Tick
	// Cut is true when a read limit stopped the read before it had limit
	// ticks or reached to: every archived tick up to (PosTS, PosSeq) is
	// in Ticks, none after it was looked at.
	Cut    bool
	PosTS  int64
	PosSeq uint64
}

// TickArchive reads the ticks retention moved out of the store (the
// Parquet archive, decision 0027).
type TickArchive interface {
	// ArchivedTicks returns symbol's archived ticks after (afterTS,
	// afterSeq) with ts <= to, in (ts, seq) order, at most limit, within
	// the archive's read limits. A store that is down is
	// market.ErrUnavailable.
	ArchivedTicks(ctx context.Context, symbol string, afterTS int64, afterSeq uint64, to int64, limit int) (ArchivedPage, error)
}

// Sources of a page of ticks (the response's "source").
const (
	sourceStore        = "store"
	sourceArchive      = "archive"
	sourceStoreArchive = "store+archive"
)

// tickPage is the body of GET /api/v1/ticks/{symbol}.
type tickPage struct {
	Data       []market.Tick `json:"data"`
	NextCursor string        `json:"next_cursor,omitempty"`
	// Source says where the page's ticks come from: store (the database
	// only; the archive was not read or added nothing), archive (every
	// tick from the archive), store+archive (some from each, or an empty
	// page of a range both were read for).
	Source string `json:"source"`
}

// tickCursor continues a page after the tick (A, Q), up to T.
type tickCursor struct {
	Symbol string `json:"s"`
	A      int64  `json:"a"` // ms: continue after (A, Q)
	Q      uint64 `json:"q"`
	T      int64  `json:"t"` // ms: the range's end, inclusive
}

// ticks: GET /api/v1/ticks/{symbol}?from=&to=&limit=&cursor= — raw ticks,
// oldest first, from the store within the retention and from the archive
// before it (decision 0022). to defaults to now, from to the hour before
// to; to - from is at most 31 days.
func (a *API) ticks(w http.ResponseWriter, r *http.Request) {
	sym := r.PathValue("symbol")
	if err := market.CheckSymbol("symbol", sym); err != nil {
		a.writeError(w, r, err)
		return
	}
	if a.d.Ticks == nil {
		a.writeError(w, r, fmt.Errorf("tick reads: %w", market.ErrUnavailable))
		return
	}
	q := r.URL.Query()
	limit, err := parseLimit(q, market.DefaultLimit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	now := a.now().UnixMilli()
	var cur tickCursor
	if c := q.Get("cursor"); c != "" {
		if err := decodeCursor(c, &cur); err != nil {
			a.writeError(w, r, err)
			return
		}
		if cur.Symbol != sym {
			a.writeError(w, r, market.Invalid("cursor", "belongs to another symbol"))
			return
		}
		if cur.A < market.MinTS-1 || cur.T > market.MaxTS || cur.A > cur.T || cur.T-cur.A > maxTickRangeMs {
			a.writeError(w, r, market.Invalid("cursor", "is not a cursor this API returned"))
			return
		}
	} else {
		to := now
		if q.Has("to") {
			if to, err = parseMillis(q, "to"); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		from := to - defaultTickRangeMs + 1
		if q.Has("from") {
			if from, err = parseMillis(q, "from"); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		switch {
		case from < market.MinTS || from > market.MaxTS:
			a.writeError(w, r, market.Invalid("from", "must lie in 2000-01-01 to 2100-01-01 (Unix ms)"))
			return
		case to < market.MinTS || to > market.MaxTS:
			a.writeError(w, r, market.Invalid("to", "must lie in 2000-01-01 to 2100-01-01 (Unix ms)"))
			return
		case from > to:
			a.writeError(w, r, market.Invalid("from", "must not be after to"))
			return
		case to-from >= maxTickRangeMs:
			a.writeError(w, r, market.Invalid("to", "to - from must be less than 31 days; page through longer ranges"))
			return
		}
		cur = tickCursor{Symbol: sym, A: from - 1, Q: math.MaxUint64, T: to}
	}
	ttl, cc := a.cfg.LiveTTL, liveCache
	if cur.T < now-a.cfg.ClosedGrace.Milliseconds() {
		ttl, cc = a.cfg.ClosedTTL, a.closedCache
	}
	key := "ticks:" + sym + ":" + strconv.FormatInt(cur.A, 10) + ":" + strconv.FormatUint(cur.Q, 10) + ":" + strconv.FormatInt(cur.T, 10) + ":" + strconv.Itoa(limit)
	a.serveCached(w, r, key, ttl, cc, func(ctx context.Context) (any, error) {
		return a.loadTicks(ctx, cur, limit)
	})
}

// loadTicks reads one page: limit+1 ticks after the cursor from the store,
// and, for the part of the range before the retention, from the archive;
// merges them (a tick in both, not yet deleted, once); and, when the
// archive's read was cut short, keeps only what lies up to where it got.
func (a *API) loadTicks(ctx context.Context, cur tickCursor, limit int) (tickPage, error) {
	var st []market.Tick
	var err error
	if cur.A < cur.T || (cur.A == cur.T && cur.Q != math.MaxUint64) {
		if st, err = a.d.Ticks.TicksAfter(ctx, cur.Symbol, cur.A, cur.Q, cur.T, limit+1); err != nil {
			return tickPage{}, err
		}
	}
	var arch ArchivedPage
	read := false
	// Retention deletes whole UTC days before now - retention, never a
	// tick after: the archive can only add ticks before that day.
	horizon := floorDayMs(a.now().Add(-a.d.TickRetention).UnixMilli())
	if a.d.Archive != nil && cur.A < horizon {
		read = true
		if arch, err = a.d.Archive.ArchivedTicks(ctx, cur.Symbol, cur.A, cur.Q, min(cur.T, horizon-1), limit+1); err != nil {
			return tickPage{}, err
		}
	}
	merged, fromArchive := mergeTicks(st, arch.Ticks)
	if arch.Cut {
		end := market.Tick{TS: arch.PosTS, Seq: arch.PosSeq}
		n := len(merged)
		for n > 0 && end.Before(&merged[n-1]) {
			n--
		}
		merged, fromArchive = merged[:n], fromArchive[:n]
	}
	page := tickPage{Data: merged[:min(limit, len(merged))]}
	switch {
	case len(merged) > limit:
		last := page.Data[limit-1]
		page.NextCursor = encodeCursor(tickCursor{Symbol: cur.Symbol, A: last.TS, Q: last.Seq, T: cur.T})
	case arch.Cut:
		page.NextCursor = encodeCursor(tickCursor{Symbol: cur.Symbol, A: arch.PosTS, Q: arch.PosSeq, T: cur.T})
	}
	var nStore, nArch int
	for _, f := range fromArchive[:len(page.Data)] {
		if f {
			nArch++
		} else {
			nStore++
		}
	}
	switch {
	case nArch == 0 && (nStore > 0 || !read):
		page.Source = sourceStore
	case nStore == 0 && nArch > 0:
		page.Source = sourceArchive
	default:
		page.Source = sourceStoreArchive
	}
	if page.Data == nil {
		page.Data = []market.Tick{}
	}
	return page, nil
}

// mergeTicks merges two lists ordered by (ts, seq) into one, a tick in
// both (the same ts and seq) once, the store's; fromArchive[i] says
// whether out[i] came from the archive.
func mergeTicks(store, arch []market.Tick) (out []market.Tick, fromArchive []bool) {
	out = make([]market.Tick, 0, len(store)+len(arch))
	fromArchive = make([]bool, 0, len(store)+len(arch))
	i, j := 0, 0
	for i < len(store) || j < len(arch) {
		switch {
		case j == len(arch) || (i < len(store) && store[i].Before(&arch[j])):
			out, fromArchive = append(out, store[i]), append(fromArchive, false)
			i++
		case i == len(store) || arch[j].Before(&store[i]):
			out, fromArchive = append(out, arch[j]), append(fromArchive, true)
			j++
		default: // the same tick, not deleted yet
			out, fromArchive = append(out, store[i]), append(fromArchive, false)
			i++
			j++
		}
	}
	return out, fromArchive
}

// floorDayMs returns the start (ms) of the UTC day holding ts (ms).
func floorDayMs(ts int64) int64 {
	const day = int64(24 * time.Hour / time.Millisecond)
	d := ts - ts%day
	if ts < 0 && ts%day != 0 {
		d -= day
	}
	return d
}
