package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/spf13/cobra"

	"github.com/findash/findash/internal/retry"
)

// replayCommand is `findash replay FILE`: it feeds recorded ticks (NDJSON, or
// CSV with a symbol,ts,price,size header; '-' = stdin) into a running
// instance through POST /api/v1/ticks, in batches, retrying while the
// instance answers 503 or 429.
func replayCommand(environ []string, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var target, apiKey, format string
	var batch int
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Feed recorded ticks (NDJSON or CSV, '-' = stdin) into a running instance",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if apiKey == "" {
				apiKey = lookupEnv(environ, "FINDASH_API_KEY")
			}
			if apiKey == "" {
				return errors.New("an API key is required: --api-key or FINDASH_API_KEY (see findash user create --api-key)")
			}
			in := stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			if format == "" {
				format = "ndjson"
				if strings.HasSuffix(strings.ToLower(args[0]), ".csv") {
					format = "csv"
				}
			}
			r := replayer{client: &http.Client{Timeout: 30 * time.Second}, url: strings.TrimRight(target, "/") + "/api/v1/ticks", key: apiKey}
			n, err := r.run(cmd.Context(), in, format, batch)
			if err != nil {
				// The summary is for success only: after a failure the
				// error says how far the replay got.
				if n > 0 {
					return fmt.Errorf("%w (the first %d ticks were accepted)", err, n)
				}
				return err
			}
			fmt.Fprintf(stdout, "replayed %d ticks\n", n)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", "http://127.0.0.1:8080", "base URL of the findash instance")
	cmd.Flags().StringVar(&apiKey, "api-key", "", "API key (default $FINDASH_API_KEY)")
	cmd.Flags().StringVar(&format, "format", "", "ndjson or csv (default: by file extension, else ndjson)")
	cmd.Flags().IntVar(&batch, "batch", 5000, "ticks per request")
	return cmd
}

type replayer struct {
	client *http.Client
	url    string
	key    string
}

// run streams in to the instance in batches and returns how many ticks were accepted.
func (r *replayer) run(ctx context.Context, in io.Reader, format string, batch int) (int, error) {
	if batch < 1 || batch > 50_000 {
		return 0, errors.New("--batch must be between 1 and 50000")
	}
	var buf bytes.Buffer
	lines, sent, firstLine := 0, 0, 1
	flush := func() error {
		if lines == 0 {
			return nil
		}
		if err := r.post(ctx, buf.Bytes(), firstLine); err != nil {
			return err
		}
		sent += lines
		firstLine += lines
		buf.Reset()
		lines = 0
		return nil
	}
	add := func(line []byte) error {
		buf.Write(line)
		buf.WriteByte('\n')
		lines++
		if lines >= batch || buf.Len() > 3<<20 {
			return flush()
		}
		return nil
	}
	switch format {
	case "ndjson":
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			if err := add(sc.Bytes()); err != nil {
				return sent, err
			}
		}
		if err := sc.Err(); err != nil {
			return sent, fmt.Errorf("read input: %w", err)
		}
	case "csv":
		cr := csv.NewReader(in)
		header, err := cr.Read()
		if err != nil {
			return 0, fmt.Errorf("read csv header: %w", err)
		}
		col := map[string]int{}
		for i, h := range header {
			col[strings.ToLower(strings.TrimSpace(h))] = i
		}
		for _, need := range []string{"symbol", "ts", "price", "size"} {
			if _, ok := col[need]; !ok {
				return 0, fmt.Errorf("csv header lacks column %q (want symbol,ts,price,size)", need)
			}
		}
		for row := 2; ; row++ {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return sent, fmt.Errorf("read csv: %w", err)
			}
			line, err := csvTick(rec, col)
			if err != nil {
				return sent, fmt.Errorf("csv row %d: %w", row, err)
			}
			if err := add(line); err != nil {
				return sent, err
			}
		}
	default:
		return 0, fmt.Errorf("unknown format %q (want ndjson or csv)", format)
	}
	return sent, flush()
}

func csvTick(rec []string, col map[string]int) ([]byte, error) {
	price, err := strconv.ParseFloat(rec[col["price"]], 64)
	if err != nil {
		return nil, fmt.Errorf("price: %w", err)
	}
	size, err := strconv.ParseFloat(rec[col["size"]], 64)
	if err != nil {
		return nil, fmt.Errorf("size: %w", err)
	}
	t := map[string]any{"symbol": rec[col["symbol"]], "price": price, "size": size}
	if ts, err := strconv.ParseInt(rec[col["ts"]], 10, 64); err == nil {
		t["ts"] = ts
	} else {
		t["ts"] = rec[col["ts"]] // RFC 3339; the server validates it
	}
	return json.Marshal(t)
}

// post sends one batch, retrying (retry.Ingest) while the instance is busy.
func (r *replayer) post(ctx context.Context, body []byte, firstLine int) error {
	tries := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		tries++
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
		if err != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		req.Header.Set("Authorization", "Bearer "+r.key)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := r.client.Do(req)
		if err != nil {
			return struct{}{}, fmt.Errorf("post batch: %w", err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			return struct{}{}, nil
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			return struct{}{}, fmt.Errorf("post batch: still %d after %d attempts: %s", resp.StatusCode, tries, bytes.TrimSpace(msg))
		}
		return struct{}{}, backoff.Permanent(fmt.Errorf("batch starting at input tick %d: %s: %s", firstLine, resp.Status, bytes.TrimSpace(msg)))
	}, retry.Ingest().Options(nil)...)
	return err
}
