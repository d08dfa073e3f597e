package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/findash/findash/internal/market"
)

// Limits of one ReadPage call (docs/security.md "Archive"): a page read
// for the API never holds more than a row group in memory, and stops
// (Page.Cut) rather than fail when a limit is reached.
const (
	// DefaultPageMaxBytes bounds the part bytes one page read fetches
	// (footers, column chunks): 64 MiB, about 20 busy row groups. The
	// manifests (one per day, at most DefaultMaxManifestBytes each, a few
	// KiB in practice) are bounded apart.
	DefaultPageMaxBytes = 64 << 20
	// DefaultPageMaxRows bounds the rows one page read decodes (skipped
	// ones too): 1Mi, four row groups, about 50 ms of decoding.
	DefaultPageMaxRows = 1 << 20
	// DefaultPageMaxTime bounds one page read's wall time.
	DefaultPageMaxTime = 10 * time.Second
	// DefaultPageMaxDays bounds the UTC days (manifests) one page read
	// looks at.
	DefaultPageMaxDays = 31
)

// PageLimits bound one ReadPage call; zero fields take the defaults.
type PageLimits struct {
	MaxBytes int64
	MaxRows  int64
	MaxTime  time.Duration
	MaxDays  int
}

// Page is what one ReadPage call read.
type Page struct {
	// Ticks are the archived ticks found, ordered by (ts, seq).
	Ticks []market.Tick
	// Cut is true when a limit (bytes, rows, time, days) stopped the read
	// before it reached to or limit ticks: every archived tick up to
	// (PosTS, PosSeq) is in Ticks, and a caller continues after it.
	Cut    bool
	PosTS  int64
	PosSeq uint64
	// Limit names the limit that cut the read: bytes, rows, time or days.
	Limit string
}

// errStop ends a page read at a limit; it never leaves ReadPage.
var errStop = errors.New("page limit reached")

// pageRead is the state of one ReadPage call.
type pageRead struct {
	a        *Archiver
	symbol   string
	afterTS  int64
	afterSeq uint64
	to       int64
	limit    int
	lim      PageLimits
	deadline time.Time
	bytes    int64 // fetched so far
	rows     int64 // decoded so far
	page     Page
	startTS  int64
	startSeq uint64
}

// progressed reports whether the read has got past where it started: a
// limit cuts a read only then, so every page moves its caller forward.
// A page may therefore pass its limits by what it takes to reach the first
// tick after the start: at most one row group (and the footers of the
// parts before it).
func (p *pageRead) progressed() bool {
	return p.page.PosTS != p.startTS || p.page.PosSeq != p.startSeq
}

// ReadPage returns symbol's archived ticks after (afterTS, afterSeq) in
// (ts, seq) order with ts <= to, at most limit, for the API's paged
// reads. Unlike Ticks it reads only the row groups whose ts range meets
// the request, through ranged reads when the object store allows them
// (io.ReaderAt: a file, an S3 object), and it stops at lim — bytes
// fetched, rows decoded, wall time, days — with Page.Cut and the position
// it reached, so a page costs a bounded amount whatever was asked. Ranged
// reads cannot check a part's SHA-256 (that needs the whole object): a
// part is checked against its manifest entry by size, footer row count,
// schema and symbol, and its rows by order. An object store that fails is
// market.ErrUnavailable; an object that is not what its manifest says is
// an error of its own.
func (a *Archiver) ReadPage(ctx context.Context, symbol string, afterTS int64, afterSeq uint64, to int64, limit int, lim PageLimits) (Page, error) {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultPageMaxBytes
	}
	if lim.MaxRows <= 0 {
		lim.MaxRows = DefaultPageMaxRows
	}
	if lim.MaxTime <= 0 {
		lim.MaxTime = DefaultPageMaxTime
	}
	if lim.MaxDays <= 0 {
		lim.MaxDays = DefaultPageMaxDays
	}
	if limit <= 0 {
		limit = market.DefaultLimit
	}
	p := &pageRead{a: a, symbol: symbol, afterTS: afterTS, afterSeq: afterSeq, to: to, limit: limit, lim: lim, deadline: a.cfg.Now().Add(lim.MaxTime)}
	p.page.PosTS, p.page.PosSeq = afterTS, afterSeq
	p.startTS, p.startSeq = afterTS, afterSeq
	from := afterTS
	if afterSeq == math.MaxUint64 {
		from++ // nothing of afterTS is left
	}
	err := p.run(ctx, from)
	a.m.readBytes.Add(float64(p.bytes))
	if errors.Is(err, errStop) {
		a.m.readCuts.WithLabelValues(p.page.Limit).Inc()
		p.page.Cut = true
		return p.page, nil
	}
	if err != nil {
		a.m.readErrors.Inc()
		return Page{}, err
	}
	return p.page, nil
}

// run reads the days from the one holding from to the one holding to.
func (p *pageRead) run(ctx context.Context, from int64) error {
	if from > p.to {
		return nil
	}
	days := 0
	for day := floorDay(from); day <= p.to && len(p.page.Ticks) < p.limit; day += dayMs {
		if days == p.lim.MaxDays {
			// Every tick before this day has been read.
			p.page.PosTS, p.page.PosSeq = day-1, math.MaxUint64
			return p.stop("days")
		}
		days++
		if err := p.check(ctx); err != nil {
			return err
		}
		man, err := p.a.manifest(ctx, dateOf(day))
		if err != nil {
			return unavailable(err)
		}
		e, _, ok := man.entry(p.symbol)
		if ok && e.MaxTS >= from && e.MinTS <= p.to {
			for _, f := range e.Files {
				if f.MaxTS < from || f.MinTS > p.to {
					continue
				}
				if err := p.file(ctx, dateOf(day), f); err != nil {
					return err
				}
				if len(p.page.Ticks) >= p.limit {
					return nil
				}
			}
		}
		// The whole day is read.
		p.page.PosTS, p.page.PosSeq = min(day+dayMs-1, p.to), math.MaxUint64
	}
	return nil
}

// missing is the error for a part the manifest read lists but the store
// does not hold. The day may have been archived again since the manifest
// was read (its old parts deleted): if the manifest read again no longer
// lists key, the read is retried by the client (unavailable: 503 with
// Retry-After) and finds the new parts; if it still does, the archive is
// corrupt (500).
func (p *pageRead) missing(ctx context.Context, date, key string) error {
	man, err := p.a.manifest(ctx, date)
	if err != nil {
		return unavailable(err)
	}
	if e, _, ok := man.entry(p.symbol); !ok || !slices.ContainsFunc(e.Files, func(f File) bool { return f.Key == key }) {
		return fmt.Errorf("%w: archive: %s: archived again during the read, its part %s deleted", market.ErrUnavailable, date, key)
	}
	return fmt.Errorf("archive: %s: %w: listed in the manifest, missing", key, errCorrupt)
}

// stop records which limit stopped the read.
func (p *pageRead) stop(limit string) error {
	p.page.Limit = limit
	return errStop
}

// check stops the read at the time limit or when ctx ends.
func (p *pageRead) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.progressed() && !p.a.cfg.Now().Before(p.deadline) {
		return p.stop("time")
	}
	return nil
}

// file reads the row groups of f, listed in the manifest of date, that
// may hold the range.
func (p *pageRead) file(ctx context.Context, date string, f File) error {
	rc, err := p.a.objs.Open(ctx, f.Key)
	if err != nil {
		if errors.Is(err, market.ErrNotFound) {
			return p.missing(ctx, date, f.Key)
		}
		return unavailable(err)
	}
	defer rc.Close()
	ra, ok := rc.(io.ReaderAt)
	if !ok { // no ranged reads: the whole object, if the budget allows
		if p.bytes+f.Bytes > p.lim.MaxBytes && p.progressed() {
			return p.stop("bytes")
		}
		data, err := io.ReadAll(io.LimitReader(rc, f.Bytes+1))
		if err != nil {
			return unavailable(fmt.Errorf("read %s: %w", f.Key, err))
		}
		ra = bytesAt(data)
	}
	cr := &countingReaderAt{r: ra, p: p, size: f.Bytes}
	pf, ft, err := readFooter(cr, f.Bytes, true)
	if err != nil {
		if p.page.Limit != "" { // the byte limit, whatever the reader made of it
			return errStop
		}
		return fmt.Errorf("archive: %s: %w", f.Key, err)
	}
	if ft.rows != f.Rows || ft.symbol != p.symbol {
		return fmt.Errorf("archive: %s: %w: %d rows of %q, the manifest says %d of %q", f.Key, errCorrupt, ft.rows, ft.symbol, f.Rows, p.symbol)
	}
	for _, rg := range pf.RowGroups() {
		if cc, ok := rg.ColumnChunks()[0].(*parquet.FileColumnChunk); ok {
			if lo, hi, ok := cc.Bounds(); ok && (hi.Int64() < p.afterTS || lo.Int64() > p.to) {
				continue
			}
		}
		if err := p.rowGroup(ctx, rg, f.Key); err != nil {
			return err
		}
		if len(p.page.Ticks) >= p.limit {
			return nil
		}
	}
	return nil
}

// rowGroup decodes rg's rows in batches, keeping those in the range.
func (p *pageRead) rowGroup(ctx context.Context, rg parquet.RowGroup, key string) error {
	r := parquet.NewGenericRowGroupReader[row](rg)
	defer r.Close()
	if start := p.firstRow(rg); start > 0 {
		if err := r.SeekToRow(start); err != nil {
			if p.page.Limit != "" {
				return errStop
			}
			return fmt.Errorf("archive: %s: %w: seek to row %d: %w", key, errCorrupt, start, err)
		}
	}
	buf := make([]row, 1024)
	for {
		if err := p.check(ctx); err != nil {
			return err
		}
		if p.rows >= p.lim.MaxRows && p.progressed() {
			return p.stop("rows")
		}
		n, err := r.Read(buf)
		p.rows += int64(n)
		for _, x := range buf[:n] {
			if x.Seq < 0 {
				return fmt.Errorf("archive: %s: %w: negative seq %d", key, errCorrupt, x.Seq)
			}
			t := market.Tick{Symbol: p.symbol, TS: x.TS, Seq: uint64(x.Seq), Price: x.Price, Size: x.Size}
			if t.TS > p.to {
				return nil // sorted: nothing further is in range
			}
			if t.TS < p.afterTS || (t.TS == p.afterTS && t.Seq <= p.afterSeq) {
				continue
			}
			if k := len(p.page.Ticks); k > 0 && !p.page.Ticks[k-1].Before(&t) {
				return fmt.Errorf("archive: %s: %w: rows out of order", key, errCorrupt)
			}
			p.page.Ticks = append(p.page.Ticks, t)
			p.page.PosTS, p.page.PosSeq = t.TS, t.Seq
			if len(p.page.Ticks) == p.limit {
				return nil
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if p.page.Limit != "" {
				return errStop
			}
			if errors.Is(err, market.ErrUnavailable) {
				return err
			}
			return fmt.Errorf("archive: %s: %w: read rows: %w", key, errCorrupt, err)
		}
	}
}

// firstRow returns the index in rg of the first row of the first ts page
// that may hold a tick after the read's start, from the page index (the
// ts column's per-page max and the pages' first rows): a page read starts
// there rather than decoding the row group from its first row. 0 when
// the file has no page index.
func (p *pageRead) firstRow(rg parquet.RowGroup) int64 {
	cc, ok := rg.ColumnChunks()[0].(*parquet.FileColumnChunk)
	if !ok {
		return 0
	}
	ci, err := cc.ColumnIndex()
	if err != nil {
		return 0
	}
	oi, err := cc.OffsetIndex()
	if err != nil || oi.NumPages() != ci.NumPages() {
		return 0
	}
	for i := range ci.NumPages() {
		if ci.MaxValue(i).Int64() >= p.afterTS {
			return oi.FirstRowIndex(i)
		}
	}
	return 0
}

// countingReaderAt counts the bytes fetched against the page's limit and
// refuses reads past the object's manifest size.
type countingReaderAt struct {
	r    io.ReaderAt
	p    *pageRead
	size int64
}

func (c *countingReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= c.size {
		return 0, io.EOF
	}
	short := false
	if int64(len(b)) > c.size-off { // past the manifest's size: not fetched
		b, short = b[:c.size-off], true
	}
	if c.p.bytes+int64(len(b)) > c.p.lim.MaxBytes && c.p.progressed() {
		c.p.page.Limit = "bytes"
		return 0, errStop
	}
	n, err := c.r.ReadAt(b, off)
	c.p.bytes += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		err = unavailable(err)
	}
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

// bytesAt is an object read whole.
type bytesAt []byte

func (b bytesAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// unavailable marks an object store's failure as market.ErrUnavailable
// (the API answers 503), unless it is a limit, the caller's ctx, an
// archive that is corrupt (500: a manifest that does not parse, a part
// missing; not ErrInvalid, a 400) or already marked.
func unavailable(err error) error {
	if errors.Is(err, errStop) || errors.Is(err, context.Canceled) || errors.Is(err, errCorrupt) || errors.Is(err, market.ErrInvalid) || errors.Is(err, market.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: tick archive: %w", market.ErrUnavailable, err)
}
