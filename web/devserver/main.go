// Command devserver serves the dashboard from internal/web in front of a
// running findash: the dashboard's own handler for the page and its assets,
// a reverse proxy for /api/, /ws, /livez and /readyz. It is for developing
// the dashboard (and for the browser tests while findash does not mount the
// web handler itself); findash serves both in production.
//
//	go run ./web/devserver -addr 127.0.0.1:8081 -upstream http://127.0.0.1:8080
//
// It imports only internal/web and must not import the API or an adapter: it
// proxies to a running findash instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/findash/findash/internal/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("devserver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	upstream := fs.String("upstream", "http://127.0.0.1:8080", "the findash to proxy /api, /ws, /livez and /readyz to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	up, err := url.Parse(*upstream)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	dash, err := web.New(web.Config{}, log)
	if err != nil {
		return err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			r.Out.Host = r.In.Host // the gateway checks Origin against the host
			r.SetXForwarded()
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, `{"error":{"code":"unavailable","message":%q}}`+"\n", err.Error())
		},
	}
	mux := http.NewServeMux()
	mux.Handle("/", dash)
	for _, p := range []string{"/api/", "/ws", "/livez", "/readyz"} {
		mux.Handle(p, proxy)
	}
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving the dashboard", "addr", *addr, "upstream", up.String(), "api", strings.Join([]string{"/api/", "/ws"}, " "))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
