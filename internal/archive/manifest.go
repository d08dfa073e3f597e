package archive

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/findash/findash/internal/market"
)

// DefaultMaxManifestBytes bounds a manifest a reader accepts and the
// writer writes: 4 MiB hold about 10,000 symbol entries of one part each,
// far more than the symbol registry's cap.
const DefaultMaxManifestBytes = 4 << 20

// manifestVersion is the manifest format's version; a reader refuses others.
const manifestVersion = 1

// dayMs is a UTC day in milliseconds; archive partitions are UTC days.
const dayMs = 24 * 60 * 60 * 1000

// Manifest lists what one UTC day of the archive holds, one entry per
// symbol, so a reader finds the files of (day, symbol) with one GET and no
// listing. It lives at ticks/date=YYYY-MM-DD/manifest.json; the writer
// replaces an entry whole when it archives the day of a symbol again, so
// an entry never lists a tick twice.
type Manifest struct {
	Version int    `json:"version"` // manifestVersion
	Date    string `json:"date"`    // YYYY-MM-DD, UTC
	// Symbols are ordered by symbol, one entry each.
	Symbols []Entry `json:"symbols"`
}

// Entry is what the archive holds of one symbol on one day.
type Entry struct {
	Symbol string `json:"symbol"`
	Rows   int64  `json:"rows"`   // ticks, the sum over Files
	Bytes  int64  `json:"bytes"`  // object bytes, the sum over Files
	MinTS  int64  `json:"min_ts"` // ms since epoch, UTC
	MaxTS  int64  `json:"max_ts"`
	MinSeq uint64 `json:"min_seq"`
	MaxSeq uint64 `json:"max_seq"`
	// Files are the parts in (ts, seq) order: a part's first tick comes
	// after the previous part's last.
	Files []File `json:"files"`
}

// File is one Parquet object of an entry.
type File struct {
	Key    string `json:"key"`    // object key
	Rows   int64  `json:"rows"`   // ticks, as in the file's footer
	Bytes  int64  `json:"bytes"`  // object size
	MinTS  int64  `json:"min_ts"` // ms since epoch, UTC
	MaxTS  int64  `json:"max_ts"`
	SHA256 string `json:"sha256"` // hex SHA-256 of the object's bytes
}

// entry returns the manifest's entry of symbol and its index, or false.
func (m *Manifest) entry(symbol string) (Entry, int, bool) {
	i, ok := slices.BinarySearchFunc(m.Symbols, symbol, func(e Entry, s string) int { return strings.Compare(e.Symbol, s) })
	if !ok {
		return Entry{}, i, false
	}
	return m.Symbols[i], i, true
}

// put replaces symbol's entry with e, or inserts it in order.
func (m *Manifest) put(e Entry) {
	_, i, ok := m.entry(e.Symbol)
	if ok {
		m.Symbols[i] = e
		return
	}
	m.Symbols = slices.Insert(m.Symbols, i, e)
}

// dateOf returns the UTC date (YYYY-MM-DD) of the day holding ts (ms).
func dateOf(ts int64) string { return time.UnixMilli(floorDay(ts)).UTC().Format(time.DateOnly) }

// floorDay returns the start (ms) of the UTC day holding ts (ms).
func floorDay(ts int64) int64 {
	d := ts - ts%dayMs
	if ts < 0 && ts%dayMs != 0 {
		d -= dayMs
	}
	return d
}

// escapeSymbol makes a symbol one segment of an object key: '/' (EUR/USD)
// becomes %2F, as Hive-style partition values escape it; every other byte a
// symbol may hold is a key byte already.
func escapeSymbol(s string) string { return strings.ReplaceAll(s, "/", "%2F") }

// manifestKey is the key of date's manifest.
func manifestKey(date string) string { return "ticks/date=" + date + "/manifest.json" }

// partPrefix is the key prefix of the parts of (date, symbol).
func partPrefix(date, symbol string) string {
	return "ticks/date=" + date + "/symbol=" + escapeSymbol(symbol) + "/"
}

// encodeManifest renders m as indented JSON (it is read by people too).
func encodeManifest(m *Manifest) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest %s: %w", m.Date, err)
	}
	return append(b, '\n'), nil
}

// ParseManifest decodes and checks the manifest of date (YYYY-MM-DD): at
// most maxBytes bytes (DefaultMaxManifestBytes when <= 0), no unknown field,
// version 1, the date asked for, entries ordered by valid symbol with no
// repeat, each with 1 to 10,000 files whose keys lie under the entry's own
// folder, rows and bytes that add up, timestamps inside the day, and
// SHA-256 sums of 64 hex digits. Anything else is market.ErrInvalid: a
// reader never trusts an object it did not check.
func ParseManifest(data []byte, date string, maxBytes int) (Manifest, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxManifestBytes
	}
	bad := func(format string, args ...any) (Manifest, error) {
		return Manifest{}, fmt.Errorf("manifest %.10q: %w", date, market.Invalid("manifest", format, args...))
	}
	if len(data) > maxBytes {
		return bad("%d bytes, more than the limit %d", len(data), maxBytes)
	}
	day, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return bad("date %q is not YYYY-MM-DD", date)
	}
	lo := day.UnixMilli()
	hi := lo + dayMs - 1
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return bad("not JSON of a manifest: %v", err)
	}
	if dec.More() {
		return bad("trailing data after the manifest")
	}
	if m.Version != manifestVersion {
		return bad("version %d, want %d", m.Version, manifestVersion)
	}
	if m.Date != date {
		return bad("date %.12q, want %s", m.Date, date)
	}
	for i, e := range m.Symbols {
		if !market.ValidSymbol(e.Symbol) {
			return bad("entry %d: symbol %.40q is not valid", i, e.Symbol)
		}
		if i > 0 && m.Symbols[i-1].Symbol >= e.Symbol {
			return bad("entry %d: symbol %s out of order or repeated", i, e.Symbol)
		}
		if len(e.Files) == 0 || len(e.Files) > 10_000 {
			return bad("entry %s: %d files, want 1-10000", e.Symbol, len(e.Files))
		}
		if e.MinTS < lo || e.MaxTS > hi || e.MinTS > e.MaxTS || e.MinSeq > e.MaxSeq {
			return bad("entry %s: ts [%d, %d] or seq [%d, %d] out of the day or reversed", e.Symbol, e.MinTS, e.MaxTS, e.MinSeq, e.MaxSeq)
		}
		prefix := partPrefix(date, e.Symbol)
		var rows, size int64
		prev := e.MinTS
		for j, f := range e.Files {
			name, ok := strings.CutPrefix(f.Key, prefix)
			if !ok || !strings.HasPrefix(name, "part-") || !strings.HasSuffix(name, ".parquet") || strings.ContainsAny(name, "/\\") || len(f.Key) > 512 {
				return bad("entry %s file %d: key %.80q is not a part of the entry", e.Symbol, j, f.Key)
			}
			if f.Rows <= 0 || f.Bytes <= 0 || f.Rows > 1<<40 || f.Bytes > 1<<40 {
				return bad("entry %s file %d: %d rows, %d bytes", e.Symbol, j, f.Rows, f.Bytes)
			}
			if f.MinTS < prev || f.MaxTS < f.MinTS || f.MaxTS > e.MaxTS {
				return bad("entry %s file %d: ts [%d, %d] out of the entry's or out of order", e.Symbol, j, f.MinTS, f.MaxTS)
			}
			if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 {
				return bad("entry %s file %d: sha256 %.70q is not 64 hex digits", e.Symbol, j, f.SHA256)
			}
			prev = f.MaxTS
			rows += f.Rows
			size += f.Bytes
		}
		if e.Files[0].MinTS != e.MinTS || e.Files[len(e.Files)-1].MaxTS != e.MaxTS {
			return bad("entry %s: ts range is not its files'", e.Symbol)
		}
		if rows != e.Rows || size != e.Bytes {
			return bad("entry %s: %d rows and %d bytes, its files hold %d and %d", e.Symbol, e.Rows, e.Bytes, rows, size)
		}
	}
	return m, nil
}
