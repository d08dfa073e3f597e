// Package notify delivers alert notifications: e-mail over SMTP (Mailer)
// and signed webhooks (Webhooks), and Service, the job handler that turns a
// stored alert event into both (it implements jobs.Notifier).
//
// E-mail. Mailer speaks SMTP to the server of FINDASH_SMTP_URL
// (smtp://user:pass@host:port, STARTTLS when the server offers it, PLAIN
// auth when a user is given); with no URL the message is written to the log
// instead. Every dial and exchange is bounded by Config.Timeout.
//
// Webhooks. A POST of the event as JSON with
// X-Findash-Signature: sha256=<hex HMAC-SHA256 of the body keyed by the
// user's webhook secret>. Each attempt is bounded by a timeout; redirects
// are not followed; a circuit breaker per destination host fails fast after
// consecutive failures; and the dialer refuses loopback, private,
// link-local, unspecified, multicast and shared (CGNAT) addresses after DNS
// resolution — at connect time, so a name that resolves to an internal
// address is refused too — unless WebhookConfig.AllowPrivate is set.
// Errors no retry can fix (a refused address, a 4xx other than 408 and 429,
// a redirect) are marked permanent so the job queue does not retry them.
//
// Concurrency: Mailer, Webhooks and Service are safe for concurrent use.
// The breaker map holds at most WebhookConfig.MaxHosts hosts; beyond that it
// is cleared (breakers restart closed).
//
// Imports. notify imports the domain types it delivers (market, alert, auth)
// and the standard library's SMTP and HTTP clients. It must not import a
// store or the job queue: it reads through Store and is called as a
// jobs.Notifier.
package notify
