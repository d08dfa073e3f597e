package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// MailConfig configures a Mailer.
type MailConfig struct {
	// URL is smtp://[user:pass@]host:port; empty writes mails to the log.
	URL string
	// From is the sender address (default findash@localhost).
	From string
	// Timeout bounds one message's whole SMTP exchange (default 30s).
	Timeout time.Duration
}

// Mailer sends e-mail over SMTP, or to the log when no server is configured.
type Mailer struct {
	host, addr string
	auth       smtp.Auth
	from       string
	timeout    time.Duration
	l          *slog.Logger
}

// NewMailer parses cfg.URL and returns a Mailer; a malformed URL is an error.
func NewMailer(cfg MailConfig, l *slog.Logger) (*Mailer, error) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	m := &Mailer{from: cfg.From, timeout: cfg.Timeout, l: l.With("component", "mailer")}
	if m.from == "" {
		m.from = "findash@localhost"
	}
	if m.timeout <= 0 {
		m.timeout = 30 * time.Second
	}
	if cfg.URL == "" {
		return m, nil
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, fmt.Errorf("smtp url: must be smtp://[user:pass@]host:port")
	}
	m.host = u.Hostname()
	port := u.Port()
	if port == "" {
		port = "25"
	}
	m.addr = net.JoinHostPort(m.host, port)
	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password()
		m.auth = smtp.PlainAuth("", u.User.Username(), pass, m.host)
	}
	return m, nil
}

// Configured reports whether an SMTP server is set (else Send logs).
func (m *Mailer) Configured() bool { return m.addr != "" }

// Send sends a plain-text message. Without an SMTP server it logs it and
// returns nil.
func (m *Mailer) Send(ctx context.Context, to, subject, body string) error {
	if m.addr == "" {
		m.l.Info("email (no SMTP server configured)", "to", to, "subject", subject, "body", body)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", m.addr, err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp hello %s: %w", m.addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if m.auth != nil {
		if err := c.Auth(m.auth); err != nil {
			return permanentf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(m.from); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("smtp rcpt %s: %w", to, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	msg := "From: " + m.from + "\r\nTo: " + to + "\r\nSubject: " + mime.QEncoding.Encode("utf-8", subject) +
		"\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp end data: %w", err)
	}
	if err := c.Quit(); err != nil {
		m.l.Debug("smtp quit", "err", err) // the message was accepted
	}
	return nil
}

// permanentError is an error no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

func permanentf(format string, args ...any) error {
	return &permanentError{fmt.Errorf(format, args...)}
}
