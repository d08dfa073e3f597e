// Package notifytest runs real notification endpoints for tests: an SMTP
// server (github.com/emersion/go-smtp) that keeps what it receives, and an
// HTTP webhook receiver. Only tests import it.
//
// It imports nothing of findash and must not import a findash package, so
// any package's tests can use it.
package notifytest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is a message the SMTP server accepted.
type Mail struct {
	From string
	To   []string
	Data string // the raw message, headers and body
}

// SMTPServer is an SMTP server on a loopback port requiring PLAIN auth as
// user "u", password "p".
type SMTPServer struct {
	URL string // smtp://u:p@127.0.0.1:port

	mu    sync.Mutex
	mails []Mail
	got   chan struct{}
}

// NewSMTPServer starts an SMTP server, stopped when t ends.
func NewSMTPServer(t testing.TB) *SMTPServer {
	t.Helper()
	s := &SMTPServer{got: make(chan struct{}, 1000)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	s.URL = "smtp://u:p@" + l.Addr().String()
	return s
}

// Mails returns what was received so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait waits until at least n mails arrived or d passed, and returns them.
func (s *SMTPServer) Wait(n int, d time.Duration) []Mail {
	deadline := time.After(d)
	for {
		if m := s.Mails(); len(m) >= n {
			return m
		}
		select {
		case <-s.got:
		case <-deadline:
			return s.Mails()
		}
	}
}

type session struct {
	s    *SMTPServer
	auth bool
	m    Mail
}

func (c *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (c *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "u" || pass != "p" {
			return errors.New("bad credentials")
		}
		c.auth = true
		return nil
	}), nil
}

func (c *session) Mail(from string, _ *smtp.MailOptions) error {
	if !c.auth {
		return smtp.ErrAuthRequired
	}
	c.m = Mail{From: from}
	return nil
}

func (c *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.m.To = append(c.m.To, to)
	return nil
}

func (c *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.m.Data = string(b)
	c.s.mu.Lock()
	c.s.mails = append(c.s.mails, c.m)
	c.s.mu.Unlock()
	c.s.got <- struct{}{}
	return nil
}

func (c *session) Reset()        { c.m = Mail{} }
func (c *session) Logout() error { return nil }

// Request is a request the webhook receiver got.
type Request struct {
	Header http.Header
	Body   []byte
}

// Receiver is an HTTP server recording POSTs; Status decides the answer.
type Receiver struct {
	URL string

	mu     sync.Mutex
	reqs   []Request
	status int
	got    chan struct{}
}

// NewReceiver starts a webhook receiver answering 204, closed when t ends.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{status: http.StatusNoContent, got: make(chan struct{}, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, Request{Header: req.Header.Clone(), Body: b})
		st := r.status
		r.mu.Unlock()
		r.got <- struct{}{}
		w.WriteHeader(st)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hook"
	return r
}

// SetStatus sets the status of later answers.
func (r *Receiver) SetStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

// Requests returns what was received so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Wait waits until at least n requests arrived or d passed, and returns them.
func (r *Receiver) Wait(n int, d time.Duration) []Request {
	deadline := time.After(d)
	for {
		if q := r.Requests(); len(q) >= n {
			return q
		}
		select {
		case <-r.got:
		case <-deadline:
			return r.Requests()
		}
	}
}
