package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/findash/findash/internal/feed/fakeexchange"
)

// fakeExchangeCommand is `findash fake-exchange`: the fake venues of the
// feed tests (internal/feed/fakeexchange) on real ports, trading on their
// own, for demos and the dashboard's browser test. A dev command: it never
// reaches a real exchange.
func fakeExchangeCommand(stdout io.Writer) *cobra.Command {
	var (
		binanceAddr, coinbaseAddr string
		binanceSyms, coinbaseSyms []string
		rate                      int
	)
	c := &cobra.Command{
		Use:   "fake-exchange",
		Short: "Serve a fake Binance and Coinbase (for demos and tests)",
		Long: `Serve a fake Binance Spot and Coinbase Exchange (for demos and tests).

Each venue speaks the documented WebSocket trade stream and REST trade history
(internal/feed/fakeexchange) on its own address and trades --rate times a
second per symbol. Point findash at it:

  FINDASH_FEED=binance,coinbase FINDASH_FEED_SYMBOLS=BTC-USDT,BTC-USD \
  FINDASH_BINANCE_WS_URL=ws://127.0.0.1:9101 FINDASH_BINANCE_REST_URL=http://127.0.0.1:9101 \
  FINDASH_COINBASE_WS_URL=ws://127.0.0.1:9102 FINDASH_COINBASE_REST_URL=http://127.0.0.1:9102 findash

Faults, on either address: POST /fake/stall (nothing sent, connections kept),
/fake/resume, /fake/drop (every connection cut), /fake/skip?n=N (the next N
trades kept off the stream: a gap). It prints one line per venue with its
URLs once listening, and stops on SIGINT or SIGTERM.`,
		Example: `  findash fake-exchange --rate 50
  findash fake-exchange --binance-addr 127.0.0.1:0 --coinbase-addr '' --binance-symbols BTCUSDT`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rate < 0 || rate > 100_000 {
				return fmt.Errorf("--rate %d: want 0 to 100000 trades a second per symbol", rate)
			}
			type venue struct {
				name string
				ln   net.Listener
				syms []string
			}
			// Listen on every address before serving any: a second address
			// that cannot be bound closes the first listener, rather than
			// leaving it served by goroutines nobody waits for.
			var venues []venue
			for _, v := range []venue{{name: fakeexchange.Binance, syms: binanceSyms}, {name: fakeexchange.Coinbase, syms: coinbaseSyms}} {
				addr := binanceAddr
				if v.name == fakeexchange.Coinbase {
					addr = coinbaseAddr
				}
				if addr == "" {
					continue
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					for _, o := range venues {
						o.ln.Close()
					}
					return fmt.Errorf("%s fake: %w", v.name, err)
				}
				v.ln = ln
				venues = append(venues, v)
			}
			g, ctx := errgroup.WithContext(cmd.Context())
			for _, v := range venues {
				ex := fakeexchange.New(fakeexchange.Config{Venue: v.name})
				host := v.ln.Addr().String()
				fmt.Fprintf(stdout, "%s ws=ws://%s rest=http://%s symbols=%s\n", v.name, host, host, strings.Join(v.syms, ","))
				g.Go(func() error { return serveFake(ctx, v.ln, ex) })
				g.Go(func() error { trade(ctx, ex, v.syms, rate); return nil })
			}
			return g.Wait()
		},
	}
	fs := c.Flags()
	fs.StringVar(&binanceAddr, "binance-addr", "127.0.0.1:9101", "address of the fake Binance (WebSocket /stream, REST /api/v3/aggTrades); empty: none")
	fs.StringVar(&coinbaseAddr, "coinbase-addr", "127.0.0.1:9102", "address of the fake Coinbase (WebSocket /, REST /products/{id}/trades); empty: none")
	fs.StringSliceVar(&binanceSyms, "binance-symbols", []string{"BTCUSDT", "ETHUSDT"}, "Binance symbols traded (the venue's spelling)")
	fs.StringSliceVar(&coinbaseSyms, "coinbase-symbols", []string{"BTC-USD", "ETH-USD"}, "Coinbase products traded")
	fs.IntVar(&rate, "rate", 10, "trades a second per symbol")
	return c
}

// serveFake serves ex and its fault controls on ln until ctx ends.
func serveFake(ctx context.Context, ln net.Listener, ex *fakeexchange.Exchange) error {
	mux := http.NewServeMux()
	mux.Handle("/", ex)
	mux.HandleFunc("POST /fake/stall", func(w http.ResponseWriter, _ *http.Request) { ex.Stall(true) })
	mux.HandleFunc("POST /fake/resume", func(w http.ResponseWriter, _ *http.Request) { ex.Stall(false) })
	mux.HandleFunc("POST /fake/drop", func(w http.ResponseWriter, _ *http.Request) { ex.Drop() })
	mux.HandleFunc("POST /fake/skip", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > 1_000_000 {
			http.Error(w, "n: want 0 to 1000000", http.StatusBadRequest)
			return
		}
		ex.Skip(n)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		ex.Drop() // hijacked WebSockets are not closed by Close
		srv.Close()
	})
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the fake exchange: %w", err)
	}
	return nil
}

// trade publishes rate trades a second of each symbol, in ten steps a
// second, until ctx ends.
func trade(ctx context.Context, ex *fakeexchange.Exchange, syms []string, rate int) {
	if rate == 0 || len(syms) == 0 {
		return
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for step := 0; ; step++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// trades due by the end of this step, less those already made
		n := rate*(step+1)/10 - rate*step/10
		if n == 0 {
			continue
		}
		for _, s := range syms {
			ex.Publish(s, n)
		}
	}
}
