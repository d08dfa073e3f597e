package notify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/notify"
	"github.com/findash/findash/internal/notify/notifytest"
)

func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

func TestMailerSMTP(t *testing.T) {
	srv := notifytest.NewSMTPServer(t)
	m, err := notify.NewMailer(notify.MailConfig{URL: srv.URL, From: "alerts@findash.test", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), "ann@example.com", "Hello ✓", "line 1\nline 2"); err != nil {
		t.Fatalf("Send() error: %v", err)
	}
	mails := srv.Wait(1, 5*time.Second)
	if len(mails) != 1 {
		t.Fatalf("server got %d mails, want 1", len(mails))
	}
	got := mails[0]
	if got.From != "alerts@findash.test" || len(got.To) != 1 || got.To[0] != "ann@example.com" {
		t.Errorf("envelope = %q -> %q", got.From, got.To)
	}
	for _, want := range []string{"To: ann@example.com", "Subject: =?utf-8?q?Hello_=E2=9C=93?=", "line 1\r\nline 2"} {
		if !strings.Contains(got.Data, want) {
			t.Errorf("message lacks %q:\n%s", want, got.Data)
		}
	}

	bad, _ := notify.NewMailer(notify.MailConfig{URL: strings.Replace(srv.URL, "u:p", "u:wrong", 1)}, nil)
	if err := bad.Send(t.Context(), "ann@example.com", "x", "y"); !isPermanent(err) {
		t.Errorf("Send() with a wrong password error = %v, want a permanent error", err)
	}
	logOnly, _ := notify.NewMailer(notify.MailConfig{}, nil)
	if err := logOnly.Send(t.Context(), "a@b.c", "x", "y"); err != nil {
		t.Errorf("Send() without SMTP error = %v, want nil (logged)", err)
	}
	for _, u := range []string{"http://x", "smtp://", "::"} {
		if _, err := notify.NewMailer(notify.MailConfig{URL: u}, nil); err == nil {
			t.Errorf("NewMailer(%q): no error", u)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true},
		{"2606:4700::1111", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fc00::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"100.64.0.1", false},
		{"::ffff:127.0.0.1", false},
		{"224.0.0.1", false},
		// issue 13 item 12: ranges the first filter missed
		{"198.18.0.1", false},     // benchmarking
		{"198.19.255.254", false}, // benchmarking, upper half
		{"192.0.0.170", false},    // IETF protocol assignments (NAT64 discovery)
		{"240.0.0.1", false},      // reserved
		{"255.255.255.255", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"64:ff9b:1::a00:1", false},
		{"::7f00:1", false},       // IPv4-compatible 127.0.0.1
		{"::0808:0808", false},    // IPv4-compatible, even of a public address
		{"2002:7f00:1::1", false}, // 6to4 of 127.0.0.1
		{"2001::1", false},        // Teredo
		{"2001:db8::1", false},    // documentation
		{"3fff::1", false},
		{"192.0.2.1", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"0.1.2.3", false},
		{"100::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"fe80::1%eth0", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:8.8.8.8", true},
		{"1.1.1.1", true},
		{"198.20.0.1", true}, // just past 198.18.0.0/15
		{"2a00:1450:4001::1", true},
	}
	for _, tc := range tests {
		if got := notify.PublicAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("PublicAddr(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestWebhookSignedDelivery(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	w := notify.NewWebhooks(notify.WebhookConfig{AllowPrivate: true, Timeout: 5 * time.Second}, nil, nil)
	body := []byte(`{"type":"alert"}`)
	if err := w.Deliver(t.Context(), rcv.URL, "s3cret", body, http.Header{"X-Findash-Event": {"alert"}}); err != nil {
		t.Fatalf("Deliver() error: %v", err)
	}
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	sig := reqs[0].Header.Get(notify.SignatureHeader)
	if !notify.Verify("s3cret", reqs[0].Body, sig) || !strings.HasPrefix(sig, "sha256=") {
		t.Errorf("signature %q does not verify", sig)
	}
	if notify.Verify("other", reqs[0].Body, sig) {
		t.Error("signature verifies under another secret")
	}
	if got := reqs[0].Header.Get("X-Findash-Event"); got != "alert" {
		t.Errorf("X-Findash-Event = %q", got)
	}

	rcv.SetStatus(http.StatusGone)
	if err := w.Deliver(t.Context(), rcv.URL, "s", body, nil); !isPermanent(err) {
		t.Errorf("Deliver() to a 410 error = %v, want permanent", err)
	}
	rcv.SetStatus(http.StatusTooManyRequests)
	if err := w.Deliver(t.Context(), rcv.URL, "s", body, nil); err == nil || isPermanent(err) {
		t.Errorf("Deliver() to a 429 error = %v, want a retryable error", err)
	}
}

func TestWebhookSSRF(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	w := notify.NewWebhooks(notify.WebhookConfig{Timeout: 5 * time.Second}, nil, nil)
	for _, u := range []string{rcv.URL, strings.Replace(rcv.URL, "127.0.0.1", "localhost", 1), "http://[::1]:1/x", "http://169.254.169.254/latest"} {
		err := w.Deliver(t.Context(), u, "s", []byte("{}"), nil)
		if !errors.Is(err, notify.ErrRefusedAddress) || !isPermanent(err) {
			t.Errorf("Deliver(%s) error = %v, want a permanent ErrRefusedAddress", u, err)
		}
	}
	if n := len(rcv.Requests()); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
}

func TestWebhookBreaker(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	rcv.SetStatus(http.StatusInternalServerError)
	w := notify.NewWebhooks(notify.WebhookConfig{AllowPrivate: true, BreakerFailures: 3, BreakerCooldown: time.Hour}, nil, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for range 5 {
		if err := w.Deliver(ctx, rcv.URL, "s", []byte("{}"), nil); err == nil || isPermanent(err) {
			t.Fatalf("Deliver() to a 500 error = %v, want retryable", err)
		}
	}
	if n := len(rcv.Requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3 (then the breaker opened)", n)
	}
}

// TestWebhookRefusesSpecialAddressesAtDial posts to literal addresses of
// special-purpose ranges: each is refused when dialled (no packet leaves),
// permanently, and counted as refused.
func TestWebhookRefusesSpecialAddressesAtDial(t *testing.T) {
	w := notify.NewWebhooks(notify.WebhookConfig{Timeout: 2 * time.Second}, nil, nil)
	for _, u := range []string{
		"http://198.18.0.1/hook", "http://192.0.0.170/hook", "http://240.0.0.1/hook",
		"http://[64:ff9b::7f00:1]/hook", "http://[::7f00:1]/hook", "http://[2002:7f00:1::1]/hook",
		"http://127.0.0.1:1/hook", "http://localhost:1/hook",
	} {
		err := w.Deliver(t.Context(), u, "s", []byte("{}"), nil)
		if !errors.Is(err, notify.ErrRefusedAddress) || !isPermanent(err) {
			t.Errorf("Deliver(%s) = %v, want a permanent ErrRefusedAddress", u, err)
		}
	}
}

// TestWebhookDoesNotFollowRedirects: a receiver that redirects (here to the
// cloud metadata address) gets no second request; the answer is a permanent
// failure, so a redirect can never steer a delivery past the address check.
func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(rw, r, "http://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	w := notify.NewWebhooks(notify.WebhookConfig{AllowPrivate: true, Timeout: 2 * time.Second}, nil, nil)
	err := w.Deliver(t.Context(), srv.URL, "s", []byte("{}"), nil)
	if err == nil || !isPermanent(err) {
		t.Fatalf("Deliver to a redirecting receiver = %v, want a permanent error", err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("receiver hit %d times, want 1", n)
	}
}
