package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// TestReplayPostRetriesWhileBusy checks that a batch is sent again while the
// instance answers 503 or 429, and not after any other refusal (the bound on
// attempts is retry.Ingest's, tested there).
func TestReplayPostRetriesWhileBusy(t *testing.T) {
	tests := []struct {
		name     string
		answers  []int
		wantErr  string
		wantPost int
	}{
		{"busy, then accepted", []int{503, 429, 202}, "", 3},
		{"refused", []int{400, 202}, "400 Bad Request", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var posts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				n := int(posts.Add(1))
				if got := req.Header.Get("Authorization"); got != "Bearer k" {
					t.Errorf("Authorization = %q", got)
				}
				w.WriteHeader(tt.answers[min(n, len(tt.answers))-1])
			}))
			defer srv.Close()
			r := replayer{client: srv.Client(), url: srv.URL, key: "k"}
			err := r.post(t.Context(), []byte("{}\n"), 1)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("post() = %v, want an error containing %q", err, tt.wantErr)
			}
			if got := int(posts.Load()); got != tt.wantPost {
				t.Errorf("%d posts, want %d", got, tt.wantPost)
			}
		})
	}
}
