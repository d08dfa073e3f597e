package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// Objects is where the archive lives: an object store whose Put replaces
// an object whole (a reader sees the old or the new one) and whose Open of
// a missing key is market.ErrNotFound. objstore.Local and objstore.S3 are.
type Objects interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// deleter is an Objects that can remove an object; the archiver removes
// the parts a rewritten entry no longer lists when it can.
type deleter interface {
	Delete(ctx context.Context, key string) error
}

// Source is the tick store the archiver reads.
type Source interface {
	// TickSymbols lists the symbols that have ticks stored.
	TickSymbols(ctx context.Context) ([]string, error)
	// Ticks returns symbol's ticks with ts in [from, to] ordered by
	// (ts, seq), at most limit.
	Ticks(ctx context.Context, symbol string, from, to int64, limit int) ([]market.Tick, error)
}

// Config tunes an Archiver; zero values take the defaults.
type Config struct {
	RowGroupRows     int // rows per row group (DefaultRowGroupRows)
	MaxFileRows      int // rows per file (DefaultMaxFileRows); more make several parts
	MaxManifestBytes int // largest manifest written or read (DefaultMaxManifestBytes)
	// PageRows is how many ticks one store read returns (default 50,000).
	PageRows int
	// Now is the clock of the last-success metric (default time.Now).
	Now func() time.Time
}

// Archiver writes ticks to the archive and reads them back. It holds no
// state between calls besides its metrics; its methods are safe for
// concurrent use, but two archivers (or two calls) archiving the same day
// at once must not run: each rewrites the day's manifest, and the later
// write wins. The worker runs it from one job at a time; see doc.go.
type Archiver struct {
	objs Objects
	src  Source
	cfg  Config
	log  *slog.Logger
	m    *metrics
}

// New returns an Archiver writing to objs what it reads from src. reg
// receives the findash_archive_* metrics (nil: none).
func New(objs Objects, src Source, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Archiver {
	if cfg.RowGroupRows <= 0 {
		cfg.RowGroupRows = DefaultRowGroupRows
	}
	if cfg.MaxFileRows <= 0 {
		cfg.MaxFileRows = DefaultMaxFileRows
	}
	if cfg.MaxManifestBytes <= 0 {
		cfg.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if cfg.PageRows <= 0 {
		cfg.PageRows = 50_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Archiver{objs: objs, src: src, cfg: cfg, log: log.With("component", "archive"), m: newMetrics(reg)}
}

// Written is one (day, symbol) archived: the manifest entry written, or
// that would be written on a dry run.
type Written struct {
	Date string
	Entry
	// Stored is how many of the entry's ticks the store held when they
	// were read: retention deletes the (day, symbol) only while it holds
	// exactly that many (a tick imported since is not archived yet).
	Stored int64
}

// Result is what one ArchiveBefore did.
type Result struct {
	// Until is the start (ms) of the first UTC day not archived: every
	// tick stored with ts < Until is in the archive. It is the day of cut
	// when everything went well, the day that failed otherwise.
	Until int64
	// Written are the entries written (or planned, on a dry run), in
	// (date, symbol) order.
	Written []Written
}

// ArchiveBefore archives, day by day and symbol by symbol, every tick
// stored with ts before the start of cut's UTC day: only whole days, so a
// day is one file set and its manifest entry is final. For each (day,
// symbol) it reads the stored ticks, merges the ones the archive already
// holds for it (a late tick, or a run that stopped before the delete),
// writes the parts, reads each back and checks its size, SHA-256 and
// footer row count, then replaces the day's manifest entry and reads the
// manifest back. Only then is the day counted in Result.Until, so a
// caller that deletes ticks before Until deletes only archived ones. On a
// dry run nothing is written: Written says what would be. An error stops
// at the failing day, with Until at its start.
func (a *Archiver) ArchiveBefore(ctx context.Context, cut int64, dryRun bool) (Result, error) {
	until := floorDay(cut)
	res := Result{Until: until}
	syms, err := a.src.TickSymbols(ctx)
	if err != nil {
		return a.fail(res, fmt.Errorf("archive: list symbols: %w", err))
	}
	slices.Sort(syms)
	// next[sym] is the ts of sym's oldest tick not yet archived, before until.
	next := make(map[string]int64, len(syms))
	for _, s := range syms {
		ts, ok, err := a.oldest(ctx, s, market.MinTS, until-1)
		if err != nil {
			return a.fail(res, err)
		}
		if ok {
			next[s] = ts
		}
	}
	for len(next) > 0 {
		day := int64(1<<63 - 1)
		for _, ts := range next {
			day = min(day, floorDay(ts))
		}
		res.Until = day
		written, err := a.archiveDay(ctx, day, syms, next, dryRun)
		if err != nil {
			return a.fail(res, err)
		}
		res.Written = append(res.Written, written...)
		for _, s := range syms {
			if ts, ok := next[s]; !ok || floorDay(ts) != day {
				continue
			}
			ts, ok, err := a.oldest(ctx, s, day+dayMs, until-1)
			if err != nil {
				return a.fail(res, err)
			}
			if ok {
				next[s] = ts
			} else {
				delete(next, s)
			}
		}
	}
	res.Until = until
	if !dryRun {
		a.m.lastSuccess.Set(float64(a.cfg.Now().Unix()))
	}
	return res, nil
}

func (a *Archiver) fail(res Result, err error) (Result, error) {
	a.m.errors.Inc()
	return res, err
}

// oldest returns the ts of symbol's oldest tick with ts in [from, to].
func (a *Archiver) oldest(ctx context.Context, symbol string, from, to int64) (int64, bool, error) {
	if from > to {
		return 0, false, nil
	}
	t, err := a.src.Ticks(ctx, symbol, from, to, 1)
	if err != nil {
		return 0, false, fmt.Errorf("archive: oldest tick of %s: %w", symbol, err)
	}
	if len(t) == 0 {
		return 0, false, nil
	}
	return t[0].TS, true, nil
}

// archiveDay archives the symbols whose next tick lies in day and then
// writes the day's manifest once.
func (a *Archiver) archiveDay(ctx context.Context, day int64, syms []string, next map[string]int64, dryRun bool) ([]Written, error) {
	date := dateOf(day)
	man, err := a.manifest(ctx, date)
	if err != nil {
		return nil, err
	}
	var out []Written
	var stale []string // parts the new entries no longer list
	for _, s := range syms {
		if ts, ok := next[s]; !ok || floorDay(ts) != day {
			continue
		}
		old, _, had := man.entry(s)
		e, stored, err := a.archiveSymbolDay(ctx, date, day, s, old, dryRun)
		if err != nil {
			return nil, err
		}
		if e.Rows == 0 {
			continue
		}
		out = append(out, Written{Date: date, Entry: e, Stored: stored})
		if had {
			for _, f := range old.Files {
				if !slices.ContainsFunc(e.Files, func(g File) bool { return g.Key == f.Key }) {
					stale = append(stale, f.Key)
				}
			}
		}
		man.put(e)
	}
	if dryRun || len(out) == 0 {
		return out, nil
	}
	if err := a.putManifest(ctx, &man); err != nil {
		return nil, err
	}
	if d, ok := a.objs.(deleter); ok {
		for _, k := range stale {
			// A part left behind costs storage, not correctness: no
			// manifest lists it.
			if err := d.Delete(ctx, k); err != nil && !errors.Is(err, market.ErrNotFound) {
				a.log.Warn("could not delete a replaced archive part", "key", k, "err", err)
			}
		}
	}
	return out, nil
}

// manifest reads date's manifest; a missing one is an empty manifest.
func (a *Archiver) manifest(ctx context.Context, date string) (Manifest, error) {
	data, err := a.read(ctx, manifestKey(date), int64(a.cfg.MaxManifestBytes))
	if errors.Is(err, market.ErrNotFound) {
		return Manifest{Version: manifestVersion, Date: date}, nil
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("archive: read manifest %s: %w", date, err)
	}
	m, err := ParseManifest(data, date, a.cfg.MaxManifestBytes)
	if err != nil {
		// The archive's fault, not the request's: errCorrupt (500), not
		// ParseManifest's ErrInvalid, which the API answers with 400.
		return Manifest{}, fmt.Errorf("archive: manifest %s: %w: %v", date, errCorrupt, err)
	}
	return m, nil
}

// putManifest writes m and reads it back.
func (a *Archiver) putManifest(ctx context.Context, m *Manifest) error {
	data, err := encodeManifest(m)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if len(data) > a.cfg.MaxManifestBytes {
		return fmt.Errorf("archive: manifest %s: %w", m.Date, market.Invalid("manifest", "%d bytes, more than the limit %d", len(data), a.cfg.MaxManifestBytes))
	}
	key := manifestKey(m.Date)
	if _, err := a.objs.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("archive: write manifest %s: %w", m.Date, err)
	}
	back, err := a.read(ctx, key, int64(a.cfg.MaxManifestBytes))
	if err != nil {
		return fmt.Errorf("archive: read back manifest %s: %w", m.Date, err)
	}
	if !bytes.Equal(back, data) {
		return fmt.Errorf("archive: manifest %s read back differs from what was written", m.Date)
	}
	a.m.bytes.Add(float64(len(data)))
	return nil
}

// read returns the whole object under key, at most limit bytes.
func (a *Archiver) read(ctx context.Context, key string, limit int64) ([]byte, error) {
	rc, err := a.objs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(data)) > limit {
		// A manifest over its limit, a part over its manifest size: the
		// archive's fault (500), not a request's (ErrInvalid: 400).
		return nil, fmt.Errorf("read %s: %w: larger than %d bytes", key, errCorrupt, limit)
	}
	return data, nil
}

// archiveSymbolDay writes the parts of (day, symbol): the stored ticks of
// the day merged with old's (what the archive holds). It returns the new
// entry and how many ticks the store held; an entry of 0 rows means there
// was nothing.
func (a *Archiver) archiveSymbolDay(ctx context.Context, date string, day int64, symbol string, old Entry, dryRun bool) (Entry, int64, error) {
	ticks, err := a.stored(ctx, symbol, day, day+dayMs-1)
	if err != nil {
		return Entry{}, 0, err
	}
	stored := int64(len(ticks))
	if len(old.Files) > 0 {
		arch, err := a.readEntry(ctx, symbol, old, market.MinTS, market.MaxTS)
		if err != nil {
			return Entry{}, 0, fmt.Errorf("archive: merge with archived %s %s: %w", date, symbol, err)
		}
		ticks = merge(arch, ticks)
	}
	e := Entry{Symbol: symbol}
	if len(ticks) == 0 {
		return e, stored, nil
	}
	e.MinTS, e.MaxTS = ticks[0].TS, ticks[len(ticks)-1].TS
	e.MinSeq, e.MaxSeq = ticks[0].Seq, ticks[0].Seq
	for i := range ticks {
		e.MinSeq, e.MaxSeq = min(e.MinSeq, ticks[i].Seq), max(e.MaxSeq, ticks[i].Seq)
	}
	for part, i := 0, 0; i < len(ticks); part++ {
		chunk := ticks[i:min(len(ticks), i+a.cfg.MaxFileRows)]
		i += len(chunk)
		f, err := a.writePart(ctx, date, symbol, part, chunk, dryRun)
		if err != nil {
			return Entry{}, 0, err
		}
		e.Files = append(e.Files, f)
		e.Rows += f.Rows
		e.Bytes += f.Bytes
	}
	return e, stored, nil
}

// stored reads every stored tick of symbol with ts in [from, to], in pages.
// A page is continued after its last (ts, seq); a full page of one
// millisecond doubles the page until it holds the whole millisecond.
func (a *Archiver) stored(ctx context.Context, symbol string, from, to int64) ([]market.Tick, error) {
	var out []market.Tick
	limit := a.cfg.PageRows
	for {
		page, err := a.src.Ticks(ctx, symbol, from, to, limit)
		if err != nil {
			return nil, fmt.Errorf("archive: read ticks of %s: %w", symbol, err)
		}
		full := len(page) == limit
		if n := len(out); n > 0 {
			last := out[n-1]
			k := 0
			for k < len(page) && page[k].TS == last.TS && page[k].Seq <= last.Seq {
				k++
			}
			page = page[k:]
		}
		if full && len(page) == 0 {
			limit *= 2 // one millisecond fills the page: read it whole
			continue
		}
		out = append(out, page...)
		if !full {
			return out, nil
		}
		from = out[len(out)-1].TS
		limit = a.cfg.PageRows
	}
}

// merge merges two tick lists ordered by (ts, seq) into one, a tick in both
// (the same seq) once, b's copy kept.
func merge(a, b []market.Tick) []market.Tick {
	out := make([]market.Tick, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].Before(&b[j])):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].Before(&a[i]):
			out = append(out, b[j])
			j++
		default: // the same (ts, seq): the same tick
			out = append(out, b[j])
			i++
			j++
		}
	}
	return out
}

// writePart encodes one part, puts it, and reads it back to check it.
func (a *Archiver) writePart(ctx context.Context, date, symbol string, part int, ticks []market.Tick, dryRun bool) (File, error) {
	data, err := encodeFile(ticks, symbol, date, a.cfg.RowGroupRows)
	if err != nil {
		return File{}, fmt.Errorf("archive: %s %s: %w", date, symbol, err)
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	// The name holds the content's hash: a rewrite of the same ticks is the
	// same object, and a changed part never overwrites the one the current
	// manifest lists before the new manifest is written.
	f := File{
		Key:   fmt.Sprintf("%spart-%04d-%s.parquet", partPrefix(date, symbol), part, hexSum[:16]),
		Rows:  int64(len(ticks)),
		Bytes: int64(len(data)),
		MinTS: ticks[0].TS, MaxTS: ticks[len(ticks)-1].TS,
		SHA256: hexSum,
	}
	if dryRun {
		return f, nil
	}
	if _, err := a.objs.Put(ctx, f.Key, bytes.NewReader(data)); err != nil {
		return File{}, fmt.Errorf("archive: write %s: %w", f.Key, err)
	}
	if err := a.verify(ctx, f); err != nil {
		return File{}, err
	}
	a.m.files.Inc()
	a.m.rows.Add(float64(f.Rows))
	a.m.bytes.Add(float64(f.Bytes))
	a.log.Debug("archive part written", "key", f.Key, "rows", f.Rows, "bytes", f.Bytes)
	return f, nil
}

// verify reads the object of f back and checks its size, checksum and
// footer row count.
func (a *Archiver) verify(ctx context.Context, f File) error {
	data, err := a.read(ctx, f.Key, f.Bytes)
	if err != nil {
		return fmt.Errorf("archive: read back %s: %w", f.Key, err)
	}
	if sum := sha256.Sum256(data); int64(len(data)) != f.Bytes || hex.EncodeToString(sum[:]) != f.SHA256 {
		return fmt.Errorf("archive: read back %s: %d bytes that differ from the %d written", f.Key, len(data), f.Bytes)
	}
	_, ft, err := readFooter(bytes.NewReader(data), int64(len(data)), false)
	if err != nil {
		return fmt.Errorf("archive: read back %s: %w", f.Key, err)
	}
	if ft.rows != f.Rows {
		return fmt.Errorf("archive: read back %s: footer says %d rows, %d written", f.Key, ft.rows, f.Rows)
	}
	return nil
}

// readEntry reads the ticks of e's files that may hold ts in [from, to],
// checking each object's size and checksum against the manifest.
func (a *Archiver) readEntry(ctx context.Context, symbol string, e Entry, from, to int64) ([]market.Tick, error) {
	var out []market.Tick
	for _, f := range e.Files {
		if f.MaxTS < from || f.MinTS > to {
			continue
		}
		data, err := a.read(ctx, f.Key, f.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Key, err)
		}
		if sum := sha256.Sum256(data); int64(len(data)) != f.Bytes || hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, fmt.Errorf("%s: %w: checksum or size differs from the manifest's", f.Key, errCorrupt)
		}
		n := len(out)
		if out, err = decodeFile(out, data, symbol); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Key, err)
		}
		if int64(len(out)-n) != f.Rows {
			return nil, fmt.Errorf("%s: %w: %d rows, the manifest says %d", f.Key, errCorrupt, len(out)-n, f.Rows)
		}
	}
	return out, nil
}
