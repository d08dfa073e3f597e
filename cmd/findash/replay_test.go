package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplay feeds a recorded NDJSON file and a CSV file (RFC 3339 times
// included) into a running instance with `findash replay`, and a bad CSV is
// refused naming its row.
func TestReplay(t *testing.T) {
	dir := t.TempDir()
	key := createAPIKey(t, filepath.Join(dir, "data"))
	in := start(t, testConfig(t, filepath.Join(dir, "data")))
	ts0 := time.Now().Add(-3 * time.Hour).Truncate(time.Hour).UnixMilli()

	nd := filepath.Join(dir, "ticks.ndjson")
	os.WriteFile(nd, []byte(ndjson("RPL", ts0, 0, 1200)), 0o600)
	var csv strings.Builder
	csv.WriteString("symbol,ts,price,size\n")
	for i := 1200; i < 1300; i++ {
		ts := time.UnixMilli(ts0 + int64(i)*250).UTC()
		stamp := fmt.Sprint(ts.UnixMilli())
		if i%2 == 0 {
			stamp = ts.Format(time.RFC3339Nano)
		}
		fmt.Fprintf(&csv, "RPL,%s,%d,1\n", stamp, 100+i%50)
	}
	cf := filepath.Join(dir, "more.csv")
	os.WriteFile(cf, []byte(csv.String()), 0o600)

	for _, file := range []string{nd, cf} {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"replay", "--target", in.url(""), "--api-key", key, "--batch", "500", file}, nil, nil, &out, &errb)
		if err != nil {
			t.Fatalf("replay %s: %v\n%s", filepath.Base(file), err, errb.String())
		}
	}
	waitCandles(t, in, "RPL", ts0, ts0+1300*250, 1300)

	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("symbol,ts,price,size\nRPL,1,2,3\nRPL,x,notaprice,1\n"), 0o600)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"replay", "--target", in.url(""), "--api-key", key, bad}, nil, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "csv row 3") {
		t.Fatalf("replay of a bad CSV = %v, want an error naming csv row 3", err)
	}
	if out.Len() != 0 {
		t.Errorf("failed replay printed %q, want nothing (no success summary before an error)", out.String())
	}
	// With batches of one, the good row is accepted before the bad one:
	// the error says so, stdout stays empty.
	out.Reset()
	os.WriteFile(bad, []byte(fmt.Sprintf("symbol,ts,price,size\nRPL,%d,2,3\nRPL,x,notaprice,1\n", ts0)), 0o600)
	err = run(context.Background(), []string{"replay", "--target", in.url(""), "--batch", "1", bad}, []string{"FINDASH_API_KEY=" + key}, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "csv row 3") || !strings.Contains(err.Error(), "the first 1 ticks were accepted") {
		t.Fatalf("replay of a bad CSV in batches of one = %v, want an error naming csv row 3 and the 1 tick accepted", err)
	}
	if out.Len() != 0 {
		t.Errorf("failed replay printed %q, want nothing", out.String())
	}
}
