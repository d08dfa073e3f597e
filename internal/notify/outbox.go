package notify

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultOutboxSize bounds the account mails waiting to be sent.
const DefaultOutboxSize = 1000

// mailMsg is one queued mail.
type mailMsg struct{ to, subject, body string }

// Sender sends one mail (satisfied by *Mailer).
type Sender interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Outbox sends account mails (verification, password reset) in the
// background, so a request never waits on SMTP — and a password-reset
// request takes as long whether or not the address has an account. The
// queue holds at most its size; Enqueue drops a mail beyond it (counted in
// findash_mail_dropped_total). Mails are not retried: a lost one is asked
// for again by its user. The bodies hold single-use tokens, so they are
// never logged and never stored (the job queue would store them).
type Outbox struct {
	send    Sender
	q       chan mailMsg
	l       *slog.Logger
	sent    prometheus.Counter
	failed  prometheus.Counter
	dropped prometheus.Counter
}

// NewOutbox returns an Outbox of size mails (≤ 0: DefaultOutboxSize)
// sending through send. Its metrics are registered on reg when not nil.
func NewOutbox(send Sender, size int, l *slog.Logger, reg prometheus.Registerer) *Outbox {
	if size <= 0 {
		size = DefaultOutboxSize
	}
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{
		send: send, q: make(chan mailMsg, size), l: l.With("component", "mail_outbox"),
		sent:    prometheus.NewCounter(prometheus.CounterOpts{Name: "findash_mail_sent_total", Help: "Account mails (verification, password reset) handed to the SMTP server."}),
		failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "findash_mail_failed_total", Help: "Account mails the SMTP server did not take (not retried)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "findash_mail_dropped_total", Help: "Account mails dropped because the outbox was full."}),
	}
	if reg != nil {
		reg.MustRegister(o.sent, o.failed, o.dropped)
	}
	return o
}

// Enqueue queues a mail without blocking; false means the queue was full
// and the mail is dropped.
func (o *Outbox) Enqueue(to, subject, body string) bool {
	select {
	case o.q <- mailMsg{to, subject, body}:
		return true
	default:
		o.dropped.Inc()
		return false
	}
}

// Run sends queued mails one at a time until ctx ends; mails still queued
// then are dropped. It returns nil.
func (o *Outbox) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-o.q:
			if c, ok := o.send.(interface{ Configured() bool }); ok && !c.Configured() {
				// Mailer.Send would log the body, and with it the token.
				o.l.Warn("no SMTP server configured (--smtp-url); account mail not sent", "subject", m.subject)
				o.failed.Inc()
				continue
			}
			if err := o.send.Send(ctx, m.to, m.subject, m.body); err != nil {
				o.failed.Inc()
				o.l.Warn("account mail not sent", "subject", m.subject, "err", err)
				continue
			}
			o.sent.Inc()
		}
	}
}
