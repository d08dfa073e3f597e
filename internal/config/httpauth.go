package config

import (
	"net/mail"
	"net/url"
	"time"

	"github.com/spf13/pflag"
)

// httpAuthFlags registers the limits of the public HTTP listener and of
// authentication (docs/security.md "HTTP" and "Authentication").
func httpAuthFlags(fs *pflag.FlagSet) {
	fs.Float64("auth-rate-limit", 20, "signup and login attempts per minute per client IP (burst as many); 0 = no limit")
	fs.Float64("auth-fail-rate-limit", 60, "failed API key and session token lookups per minute per client IP (burst as many); past it that client's credentials that need a database or Redis read get 429, cached API keys and WebSocket tokens still work; 0 = no limit")
	fs.Float64("auth-account-rate-limit", 5, "signup and login attempts per minute per client IP and e-mail address (burst as many); 0 = no limit")
	fs.Duration("apikey-cache-ttl", 30*time.Second, "how long an API key read from the database is used before it is read again (in the background); also how long an instance that missed a revocation keeps a deleted key; 0 = no cache, a database read per ingest request")
	fs.Duration("apikey-cache-max-stale", time.Hour, "how long past apikey-cache-ttl a cached API key still authenticates while the database is unreachable (ingest outlives an outage); 0 = not at all")
	fs.Duration("apikey-cache-negative-ttl", 10*time.Second, "how long an unknown API key is remembered as unknown; 0 = not at all")
	fs.Int("apikey-cache-size", 100_000, "API keys held in the cache (known and unknown ones counted apart)")
	fs.Duration("http-header-timeout", 10*time.Second, "time a client has to send a request's head")
	fs.Duration("http-body-timeout", 30*time.Second, "time a client has to send a request's body (408 beyond)")
	fs.Duration("http-write-timeout", 60*time.Second, "time a client has to take a response (a report download: each 64 KiB; WebSockets have their own)")
	fs.Duration("http-idle-timeout", 2*time.Minute, "time a kept-alive connection may wait for its next request")
	fs.String("smtp-from", "findash@localhost", "sender address of every e-mail (alerts, verification, password reset)")
	fs.String("public-url", "http://127.0.0.1:8080", "the dashboard's base URL as users reach it: links in e-mails start with it (verification, password reset, the symbol page of an alert)")
	fs.Int("http-max-in-flight-per-ip", 100, "requests one client IP may have in flight at once, health checks aside (429 beyond; set --trust-proxy behind a load balancer)")
}

// validateHTTPAuth checks the values of httpAuthFlags, reporting each
// problem through bad.
func (c *Config) validateHTTPAuth(bad func(name, format string, args ...any)) {
	if c.APIKeyCacheTTL < 0 || c.APIKeyCacheMaxStale < 0 || c.APIKeyCacheNegativeTTL < 0 {
		bad("apikey_cache_ttl", "apikey_cache_ttl, apikey_cache_max_stale and apikey_cache_negative_ttl must be >= 0")
	}
	if c.APIKeyCacheSize < 1 || c.APIKeyCacheSize > 10_000_000 {
		bad("apikey_cache_size", "must be between 1 and 10000000")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"http_header_timeout", c.HTTPHeaderTimeout}, {"http_body_timeout", c.HTTPBodyTimeout},
		{"http_write_timeout", c.HTTPWriteTimeout}, {"http_idle_timeout", c.HTTPIdleTimeout},
	} {
		if d.v < 100*time.Millisecond || d.v > time.Hour {
			bad(d.name, "must be between 100ms and 1h")
		}
	}
	if c.HTTPMaxInFlightPerIP < 1 || c.HTTPMaxInFlightPerIP > 1_000_000 {
		bad("http_max_in_flight_per_ip", "must be between 1 and 1000000")
	}
	if c.AuthRateLimit < 0 {
		bad("auth_rate_limit", "must be >= 0 (0 = no limit)")
	}
	if a, err := mail.ParseAddress(c.SMTPFrom); err != nil || a.Name != "" || a.Address != c.SMTPFrom {
		bad("smtp_from", "must be a bare e-mail address, such as alerts@example.com")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		bad("public_url", "must be an absolute http:// or https:// URL without user, query or fragment")
	}
	if c.AuthAccountRateLimit < 0 {
		bad("auth_account_rate_limit", "must be >= 0 (0 = no limit)")
	}
	if c.AuthFailRateLimit < 0 {
		bad("auth_fail_rate_limit", "must be >= 0 (0 = no limit)")
	}
}
