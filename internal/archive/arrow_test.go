package archive_test

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/market"
)

// TestSecondReader reads archive files with Apache Arrow's Parquet reader
// (another implementation than the writer's, the one behind pyarrow's
// C++ sibling and many Go tools): the schema is the documented one, the
// codec zstd, the footer names the symbol, and every row is the stored tick.
func TestSecondReader(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			db := openDB(t)
			objs := st.open(t)
			ticks := gen("EUR/USD", day0, 5000, 42, 3)
			write(t, db, ticks)
			a := archive.New(objs, db, archive.Config{RowGroupRows: 1000, MaxFileRows: 3000}, nil, nil)
			res, err := a.ArchiveBefore(t.Context(), day0+dayMs, false)
			if err != nil || len(res.Written) != 1 {
				t.Fatalf("ArchiveBefore() = %+v, %v", res, err)
			}
			var got []market.Tick
			for _, f := range res.Written[0].Files {
				got = append(got, readArrow(t, read(t, objs, f.Key), f.Rows)...)
			}
			if diff := gocmp.Diff(ticks, got); diff != "" {
				t.Errorf("rows read by arrow (-stored +read):\n%s", diff)
			}
		})
	}
}

// readArrow checks one file's metadata and schema with arrow-go and returns
// its rows as ticks of EUR/USD.
func readArrow(t *testing.T, data []byte, rows int64) []market.Tick {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("arrow: open parquet: %v", err)
	}
	defer pf.Close()
	md := pf.MetaData()
	if md.NumRows != rows {
		t.Errorf("arrow: %d rows, manifest says %d", md.NumRows, rows)
	}
	if sym := md.KeyValueMetadata().FindValue("findash.symbol"); sym == nil || *sym != "EUR/USD" {
		t.Errorf("arrow: findash.symbol = %v, want EUR/USD", sym)
	}
	if pf.NumRowGroups() < 2 {
		t.Errorf("arrow: %d row groups, want several (RowGroupRows 1000)", pf.NumRowGroups())
	}
	for g := range pf.NumRowGroups() {
		rg := md.RowGroup(g)
		for c := range rg.NumColumns() {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Compression() != compress.Codecs.Zstd {
				t.Errorf("arrow: row group %d column %d compressed with %v, want zstd", g, c, cc.Compression())
			}
		}
	}
	ts := md.Schema.Column(0).LogicalType()
	if ts.String() != "Timestamp(isAdjustedToUTC=true, timeUnit=milliseconds, is_from_converted_type=false, force_set_converted_type=false)" {
		t.Errorf("arrow: ts logical type = %s", ts)
	}
	tbl, err := pqarrow.ReadTable(t.Context(), bytes.NewReader(data), parquet.NewReaderProperties(memory.DefaultAllocator), pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("arrow: read table: %v", err)
	}
	defer tbl.Release()
	want := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "seq", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "size", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	gotSchema := arrow.NewSchema(tbl.Schema().Fields(), nil) // without the file's metadata
	for i := range gotSchema.NumFields() {
		f := gotSchema.Field(i)
		f.Metadata = arrow.Metadata{} // field ids
		if w := want.Field(i); f.Name != w.Name || !arrow.TypeEqual(f.Type, w.Type) || f.Nullable {
			t.Errorf("arrow: field %d = %s %s nullable=%v, want %s %s required", i, f.Name, f.Type, f.Nullable, w.Name, w.Type)
		}
	}
	if gotSchema.NumFields() != want.NumFields() {
		t.Fatalf("arrow: schema %s, want %s", gotSchema, want)
	}
	var out []market.Tick
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		tsc := rec.Column(0).(*array.Timestamp)
		seq := rec.Column(1).(*array.Int64)
		price := rec.Column(2).(*array.Float64)
		size := rec.Column(3).(*array.Float64)
		for i := range int(rec.NumRows()) {
			out = append(out, market.Tick{Symbol: "EUR/USD", TS: int64(tsc.Value(i)), Seq: uint64(seq.Value(i)), Price: price.Value(i), Size: size.Value(i)})
		}
	}
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
