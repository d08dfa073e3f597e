package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// SignatureHeader carries a webhook body's signature.
const SignatureHeader = "X-Findash-Signature"

// Sign returns the X-Findash-Signature value of body: "sha256=" and the hex
// HMAC-SHA256 of body keyed by secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under secret (constant time).
func Verify(secret string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

// WebhookConfig tunes Webhooks. Zero fields take the documented defaults.
type WebhookConfig struct {
	// Timeout bounds one delivery attempt (default 10s).
	Timeout time.Duration
	// AllowPrivate allows loopback, private and link-local destinations
	// (tests, or a trusted internal network). Default false.
	AllowPrivate bool
	// BreakerFailures consecutive failures open a host's breaker (default 5);
	// it half-opens after BreakerCooldown (default 30s).
	BreakerFailures int
	BreakerCooldown time.Duration
	// MaxHosts bounds the breakers held (default 10,000).
	MaxHosts int
}

// ErrRefusedAddress is a destination the SSRF rules do not allow.
var ErrRefusedAddress = errors.New("destination address not allowed")

// Webhooks posts signed JSON to user-given URLs.
type Webhooks struct {
	cfg    WebhookConfig
	client *http.Client
	l      *slog.Logger

	mu       sync.Mutex
	breakers map[string]*gobreaker.CircuitBreaker[struct{}]

	open      prometheus.Gauge
	delivered *prometheus.CounterVec
}

// NewWebhooks returns a Webhooks. Metrics are registered on reg when it is
// not nil.
func NewWebhooks(cfg WebhookConfig, l *slog.Logger, reg prometheus.Registerer) *Webhooks {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = 5
	}
	if cfg.BreakerCooldown <= 0 {
		cfg.BreakerCooldown = 30 * time.Second
	}
	if cfg.MaxHosts <= 0 {
		cfg.MaxHosts = 10_000
	}
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	w := &Webhooks{cfg: cfg, l: l.With("component", "webhooks"), breakers: map[string]*gobreaker.CircuitBreaker[struct{}]{},
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_webhook_breakers_open", Help: "Webhook destination hosts whose circuit breaker is open.",
		}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_webhook_deliveries_total", Help: "Webhook delivery attempts by result (ok, failed, refused, breaker_open).",
		}, []string{"result"}),
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: w.control}
	w.client = &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			Proxy:               nil, // a proxy would dial on our behalf, past the address check
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: cfg.Timeout,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if reg != nil {
		reg.MustRegister(w.open, w.delivered)
	}
	return w
}

// control refuses connections to internal addresses (after resolution,
// so DNS cannot smuggle them in).
func (w *Webhooks) control(_, address string, _ syscall.RawConn) error {
	if w.cfg.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
	}
	if !PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrRefusedAddress, ap.Addr())
	}
	return nil
}

func (w *Webhooks) breaker(host string) *gobreaker.CircuitBreaker[struct{}] {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.breakers[host]; b != nil {
		return b
	}
	if len(w.breakers) >= w.cfg.MaxHosts {
		clear(w.breakers)
		w.open.Set(0)
	}
	b := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:    host,
		Timeout: w.cfg.BreakerCooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(w.cfg.BreakerFailures)
		},
		IsSuccessful: func(err error) bool {
			var p *permanentError
			return err == nil || errors.As(err, &p) // the host answered: it is up
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			switch {
			case to == gobreaker.StateOpen:
				w.open.Inc()
			case from == gobreaker.StateOpen:
				w.open.Dec()
			}
			w.l.Warn("webhook circuit breaker", "host", name, "from", from.String(), "to", to.String())
		},
	})
	w.breakers[host] = b
	return b
}

// Deliver POSTs body to rawURL signed with secret. A nil error means a 2xx
// answer. Errors of refused addresses, redirects and 4xx answers (but 408
// and 429) are permanent; others (network, 5xx, an open breaker) are worth
// retrying later.
func (w *Webhooks) Deliver(ctx context.Context, rawURL, secret string, body []byte, headers http.Header) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return permanentf("webhook url %q is not an http(s) URL", rawURL)
	}
	_, err = w.breaker(u.Host).Execute(func() (struct{}, error) {
		return struct{}{}, w.post(ctx, u.String(), secret, body, headers)
	})
	var p *permanentError
	switch {
	case err == nil:
		w.delivered.WithLabelValues("ok").Inc()
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		w.delivered.WithLabelValues("breaker_open").Inc()
		err = fmt.Errorf("webhook to %s: circuit open: %w", u.Host, err)
	case errors.Is(err, ErrRefusedAddress):
		w.delivered.WithLabelValues("refused").Inc()
		if !errors.As(err, &p) {
			err = &permanentError{err}
		}
	default:
		w.delivered.WithLabelValues("failed").Inc()
	}
	return err
}

func (w *Webhooks) post(ctx context.Context, u, secret string, body []byte, headers http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return permanentf("webhook request: %w", err)
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "findash-webhooks/1")
	req.Header.Set(SignatureHeader, Sign(secret, body))
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrRefusedAddress) {
			return &permanentError{fmt.Errorf("webhook post: %w", err)}
		}
		return fmt.Errorf("webhook post: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return fmt.Errorf("webhook post: status %d", s)
	default:
		return permanentf("webhook post: status %s", strconv.Itoa(s))
	}
}
