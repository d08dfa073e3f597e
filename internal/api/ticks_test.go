package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/objstore"
	"github.com/findash/findash/internal/store/sqlite"
)

// smallReads is the real archive read with small limits, so that pages
// are cut short by them.
type smallReads struct {
	a   *archive.Archiver
	lim archive.PageLimits
}

func (s smallReads) ArchivedTicks(ctx context.Context, symbol string, afterTS int64, afterSeq uint64, to int64, limit int) (api.ArchivedPage, error) {
	p, err := s.a.ReadPage(ctx, symbol, afterTS, afterSeq, to, limit, s.lim)
	return api.ArchivedPage{Ticks: p.Ticks, Cut: p.Cut, PosTS: p.PosTS, PosSeq: p.PosSeq}, err
}

// TestTicksArchiveCut: the test market's day archived (row groups of 4
// rows) and its first 13 ticks deleted from the store, read in pages of 5 with
// archive reads cut after 4 decoded rows (one row group): the pages joined are the day's
// ticks once each, in order; cut pages are short and carry a cursor; the
// sources say archive, then store+archive, then store.
func TestTicksArchiveCut(t *testing.T) {
	var db *sqlite.DB
	var arch *archive.Archiver
	later := time.UnixMilli(t0).Add(72 * time.Hour) // the market's day is past a 24 h retention
	f := newFixture(t, func(c *api.Config, d *api.Deps) {
		db = d.Candles.(*sqlite.DB)
		objs, err := objstore.NewLocal(filepath.Join(t.TempDir(), "archive"))
		if err != nil {
			t.Fatal(err)
		}
		arch = archive.New(objs, db, archive.Config{RowGroupRows: 4}, nil, nil)
		d.Ticks, d.TickRetention, d.Now = db, 24*time.Hour, func() time.Time { return later }
		d.Archive = smallReads{arch, archive.PageLimits{MaxRows: 4}}
	})
	want, err := db.Ticks(t.Context(), "BTC-USD", market.MinTS, market.MaxTS, 1000)
	if err != nil || len(want) != 30 {
		t.Fatalf("stored BTC-USD ticks = %d, %v; want 30", len(want), err)
	}
	if _, err := arch.ArchiveBefore(t.Context(), later.UnixMilli(), false); err != nil {
		t.Fatal(err)
	}
	// Retention deleted the first 13; the rest is still stored too.
	if _, ok, err := db.DeleteTicksCounted(t.Context(), "BTC-USD", market.MinTS, want[13].TS, 13); err != nil || !ok {
		t.Fatalf("DeleteTicksCounted() = %v, %v", ok, err)
	}

	var got []market.Tick
	var sources []string
	cuts := 0
	day := t0 - t0%86_400_000 // the market's UTC day
	q := url.Values{"from": {strconv.FormatInt(day, 10)}, "to": {strconv.FormatInt(day+86_399_999, 10)}, "limit": {"5"}}
	for range 50 {
		resp, body := f.do(t, "GET", "/api/v1/ticks/BTC-USD?"+q.Encode(), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET ticks = %d %s", resp.StatusCode, body)
		}
		var p struct {
			Data       []market.Tick `json:"data"`
			NextCursor string        `json:"next_cursor"`
			Source     string        `json:"source"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Data...)
		if len(sources) == 0 || sources[len(sources)-1] != p.Source {
			sources = append(sources, p.Source)
		}
		if p.NextCursor == "" {
			break
		}
		if len(p.Data) < 5 {
			cuts++
		}
		q = url.Values{"limit": {"5"}, "cursor": {p.NextCursor}}
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("pages joined (-want +got):\n%s", diff)
	}
	if cuts == 0 {
		t.Errorf("no page was cut short by the archive's row limit")
	}
	if diff := gocmp.Diff([]string{"archive", "store+archive", "store"}, sources); diff != "" {
		t.Errorf("sources in page order (-want +got):\n%s", diff)
	}
}

// TestTicksOneBusyMillisecond: 66,000 ticks share one millisecond, read in
// pages of 1,000: the pages joined are all of them, in seq order. The
// store read was by ts and skipped the ticks up to the cursor within a
// 64,000-row scan; past that it returned a short page without a
// next_cursor, and the client stopped at 64,000.
func TestTicksOneBusyMillisecond(t *testing.T) {
	f := newFixture(t, func(c *api.Config, d *api.Deps) { d.Ticks = d.Candles.(*sqlite.DB) })
	const n = 66_000
	ts := t0 - 1000
	ticks := make([]market.Tick, n)
	for i := range ticks {
		ticks[i] = market.Tick{Symbol: "BTC-USD", TS: ts, Seq: 1<<32 + uint64(i), Price: 100, Size: 1}
	}
	r := market.NewRollup()
	for i := range ticks {
		r.Add(&ticks[i])
	}
	if err := f.db.WriteBatch(t.Context(), market.Unpartitioned, ticks, r.Candles(), 0, 2, 2); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"from": {strconv.FormatInt(ts, 10)}, "to": {strconv.FormatInt(ts, 10)}, "limit": {"1000"}}
	got := 0
	for page := range n/1000 + 2 {
		resp, body := f.do(t, "GET", "/api/v1/ticks/BTC-USD?"+q.Encode(), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("page %d: GET ticks = %d %s", page, resp.StatusCode, body)
		}
		var p struct {
			Data       []market.Tick `json:"data"`
			NextCursor string        `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		for _, x := range p.Data {
			if x.Seq != ticks[got].Seq {
				t.Fatalf("tick %d has seq %d, want %d", got, x.Seq, ticks[got].Seq)
			}
			got++
		}
		if p.NextCursor == "" {
			break
		}
		q = url.Values{"limit": {"1000"}, "cursor": {p.NextCursor}}
	}
	if got != n {
		t.Errorf("pages joined hold %d ticks, want %d", got, n)
	}
}

// A from or to outside 2000-2100 is a 400 naming the parameter that is.
func TestTicksRangeNamesTheParameter(t *testing.T) {
	f := newFixture(t, func(c *api.Config, d *api.Deps) { d.Ticks = d.Candles.(*sqlite.DB) })
	for _, tc := range []struct{ from, to, field string }{
		{strconv.FormatInt(market.MinTS-1, 10), strconv.FormatInt(t0, 10), "from"},
		{strconv.FormatInt(t0, 10), strconv.FormatInt(market.MaxTS+1, 10), "to"},
	} {
		resp, body := f.do(t, "GET", "/api/v1/ticks/BTC-USD?from="+tc.from+"&to="+tc.to, nil)
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 400 || !strings.HasPrefix(e.Error.Message, tc.field+":") {
			t.Errorf("from=%s to=%s: %d %q, want 400 naming %s", tc.from, tc.to, resp.StatusCode, e.Error.Message, tc.field)
		}
	}
}
