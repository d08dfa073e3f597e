package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestFrontRequestContext: a request the front serves carries the values
// net/http puts in its context (the server, the local address) and
// ConnContext's, and its context ends when the handler returns — with and
// without a BaseContext (without one it descends from the front's own,
// which Shutdown cancels).
func TestFrontRequestContext(t *testing.T) {
	type key struct{}
	type baseKey struct{}
	for _, base := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		type seen struct {
			srv, local, conn, base any
			ctx                    context.Context
		}
		got := make(chan seen, 1)
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := r.Context()
				got <- seen{ctx.Value(http.ServerContextKey), ctx.Value(http.LocalAddrContextKey), ctx.Value(key{}), ctx.Value(baseKey{}), ctx}
				w.WriteHeader(http.StatusNoContent)
			}),
			ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
				return context.WithValue(ctx, key{}, "conn")
			},
		}
		if base {
			srv.BaseContext = func(net.Listener) context.Context {
				return context.WithValue(context.Background(), baseKey{}, "base")
			}
		}
		f := NewFront(ln, srv, FrontConfig{}, nil, nil)
		go func() { _ = srv.Serve(f) }()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		var s seen
		select {
		case s = <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("the handler did not run")
		}
		if s.srv != srv || s.local == nil || s.local.(net.Addr).String() != ln.Addr().String() || s.conn != "conn" {
			t.Errorf("base %v: context values server %v, local %v, ConnContext's %v", base, s.srv == srv, s.local, s.conn)
		}
		if base != (s.base == "base") {
			t.Errorf("base %v: BaseContext's value %v", base, s.base)
		}
		select {
		case <-s.ctx.Done():
		case <-time.After(5 * time.Second):
			t.Errorf("base %v: the request's context did not end after its handler", base)
		}
		c.Close()
		_ = srv.Close()
	}
}
