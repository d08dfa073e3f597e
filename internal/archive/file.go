package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/findash/findash/internal/market"
)

// row is one tick as stored in an archive file. The symbol and the day are
// the partition (the object's path and the manifest), as Hive-style
// partitioning expects, and the file's key-value metadata repeats the
// symbol so a file copied out of its folder still says what it holds.
//
// Types: ts is TIMESTAMP(MILLIS, UTC) over int64, the unit the store keeps,
// so every reader shows a time without a conversion; seq is the event log's
// sequence (INT64: the stores keep it as a signed 64-bit integer), which
// orders ticks of the same millisecond and identifies a tick; price and size
// are DOUBLE because the stores keep IEEE doubles (REAL, double precision):
// a DECIMAL would need a scale per symbol and could not hold every value
// the store holds, while a double round-trips bit for bit (decision 0027).
// ts and seq are delta-encoded (they grow slowly); price and size use
// BYTE_STREAM_SPLIT, which lets zstd find the repeated exponent and high
// mantissa bytes of neighbouring prices.
type row struct {
	TS    int64   `parquet:"ts,timestamp(millisecond:utc),delta"`
	Seq   int64   `parquet:"seq,delta"`
	Price float64 `parquet:"price,split"`
	Size  float64 `parquet:"size,split"`
}

// Limits of one file, enforced by the writer (docs/security.md "Archive").
const (
	// DefaultRowGroupRows is the rows of one row group: 256Ki rows are
	// 8 MiB uncompressed, about 2-3 MiB compressed — large enough for
	// zstd and for readers' per-group overhead, small enough that a reader
	// of a time range skips most of a busy day by the groups' ts statistics.
	DefaultRowGroupRows = 256 << 10
	// DefaultMaxFileRows is the rows of one file; a symbol-day with more
	// is written as several parts. 4Mi rows are 128 MiB uncompressed,
	// about 30-40 MiB compressed.
	DefaultMaxFileRows = 4 << 20
)

// Metadata keys written into every file's footer.
const (
	metaSymbol = "findash.symbol"
	metaDate   = "findash.date"
	metaFormat = "findash.format"
	// formatVersion changes when the columns change.
	formatVersion = "ticks/1"
)

// encodeFile writes ticks (one symbol, ordered by (ts, seq)) as a Parquet
// file, zstd-compressed, in row groups of rowGroupRows rows. The output is
// a function of its inputs only (no clock, no build hash), so the same
// ticks give the same bytes: a day archived twice is the same object.
func encodeFile(ticks []market.Tick, symbol, date string, rowGroupRows int) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.MaxRowsPerRowGroup(int64(rowGroupRows)),
		// Data page v1: every reader (old Spark and Hive too) reads it.
		parquet.DataPageVersion(1),
		parquet.CreatedBy("findash", formatVersion, ""),
		parquet.KeyValueMetadata(metaSymbol, symbol),
		parquet.KeyValueMetadata(metaDate, date),
		parquet.KeyValueMetadata(metaFormat, formatVersion),
		// The file is sorted by ts then seq; readers may use it.
		parquet.SortingWriterConfig(parquet.SortingColumns(parquet.Ascending("ts"), parquet.Ascending("seq"))),
	)
	rows := make([]row, 0, min(len(ticks), 8192))
	for i := 0; i < len(ticks); {
		rows = rows[:0]
		for ; i < len(ticks) && len(rows) < cap(rows); i++ {
			t := &ticks[i]
			rows = append(rows, row{TS: t.TS, Seq: int64(t.Seq), Price: t.Price, Size: t.Size})
		}
		if _, err := w.Write(rows); err != nil {
			return nil, fmt.Errorf("encode parquet: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode parquet: %w", err)
	}
	return buf.Bytes(), nil
}

// errCorrupt marks a file whose footer or rows are not what the manifest says.
var errCorrupt = errors.New("archive file corrupt")

// footer is what a file's footer says about it.
type footer struct {
	rows   int64
	symbol string
}

// readFooter opens a Parquet file's footer and checks that its columns are
// the archive's. pageIndex also reads the page index (each column's
// per-page min/max and page offsets), for reads that seek within a row
// group without reading the pages before.
func readFooter(r io.ReaderAt, size int64, pageIndex bool) (*parquet.File, footer, error) {
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(!pageIndex), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, footer{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	want := parquet.SchemaOf(row{})
	if !parquet.EqualNodes(f.Schema(), want) {
		return nil, footer{}, fmt.Errorf("%w: schema %s, want %s", errCorrupt, f.Schema(), want)
	}
	sym, _ := f.Lookup(metaSymbol)
	return f, footer{rows: f.NumRows(), symbol: sym}, nil
}

// decodeFile reads every tick of a file written by encodeFile, appending
// them to dst, and checks that they are ordered by (ts, seq) and that there
// are as many as the footer says.
func decodeFile(dst []market.Tick, data []byte, symbol string) ([]market.Tick, error) {
	f, ft, err := readFooter(bytes.NewReader(data), int64(len(data)), false)
	if err != nil {
		return dst, err
	}
	if ft.symbol != symbol {
		return dst, fmt.Errorf("%w: file of symbol %q, want %q", errCorrupt, ft.symbol, symbol)
	}
	r := parquet.NewGenericReader[row](f)
	defer r.Close()
	buf := make([]row, 8192)
	start := len(dst)
	for {
		n, err := r.Read(buf)
		for _, x := range buf[:n] {
			if x.Seq < 0 {
				return dst, fmt.Errorf("%w: negative seq %d", errCorrupt, x.Seq)
			}
			t := market.Tick{Symbol: symbol, TS: x.TS, Seq: uint64(x.Seq), Price: x.Price, Size: x.Size}
			if k := len(dst); k > start && !dst[k-1].Before(&t) {
				return dst, fmt.Errorf("%w: row %d (ts %d seq %d) out of order", errCorrupt, k-start, t.TS, t.Seq)
			}
			dst = append(dst, t)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, fmt.Errorf("%w: read rows: %w", errCorrupt, err)
		}
	}
	if got := int64(len(dst) - start); got != ft.rows {
		return dst, fmt.Errorf("%w: read %d rows, footer says %d", errCorrupt, got, ft.rows)
	}
	return dst, nil
}
