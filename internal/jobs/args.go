package jobs

import (
	"github.com/riverqueue/river"

	"github.com/findash/findash/internal/market"
)

// Job kinds.
const (
	KindSendEmail      = "send_email"
	KindDeliverWebhook = "deliver_webhook"
	KindBuildReport    = "build_report"
	KindTickRetention  = "tick_retention"
)

// Queues. Each kind goes to its own River queue with its own workers, so
// one kind can never take the workers of another: a user's 300 reports
// used to hold the shared pool while other users' alert e-mails waited
// behind them (~110 s, issue 13).
const (
	// QueueAlerts holds send_email and deliver_webhook (Config.AlertWorkers).
	QueueAlerts = "alerts"
	// QueueReports holds build_report (Config.ReportWorkers).
	QueueReports = "reports"
	// QueueRetention holds tick_retention (one worker: one job per period).
	QueueRetention = "retention"
	// queueLegacy is River's default queue, where versions before the split
	// put every job: one worker drains what an upgrade finds there.
	queueLegacy = river.QueueDefault
)

// queues are the queue names a worker works and samples, in a fixed order.
var queues = []string{QueueAlerts, QueueReports, QueueRetention, queueLegacy}

// RetentionArgs is a tick_retention job: delete raw ticks older than the
// retention. It is periodic (Config.RetentionEvery); River's leader election
// makes one instance enqueue it, and uniqueness per period keeps it single.
type RetentionArgs struct{}

// Kind implements river.JobArgs.
func (RetentionArgs) Kind() string { return KindTickRetention }

// InsertOpts puts the job on the retention queue.
func (RetentionArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueRetention} }

// EmailArgs is a send_email job: e-mail the owner of an alert event.
type EmailArgs struct {
	EventID int64 `json:"event_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (EmailArgs) Kind() string { return KindSendEmail }

// InsertOpts makes the job unique per event, on the alerts queue.
func (EmailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueAlerts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// WebhookArgs is a deliver_webhook job: POST an alert event to its URL.
type WebhookArgs struct {
	EventID int64 `json:"event_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (WebhookArgs) Kind() string { return KindDeliverWebhook }

// InsertOpts makes the job unique per event, on the alerts queue.
func (WebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueAlerts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ReportArgs is a build_report job.
type ReportArgs struct {
	ReportID int64 `json:"report_id" river:"unique"`
	// Wait is the live state's applied log positions, by partition, when
	// the report was requested (live.Feed.Applied): the build waits until
	// the store's reach them (decision 0057). Absent in a job enqueued by
	// an older version: the build starts at once.
	Wait market.Positions `json:"wait,omitempty"`
}

// Kind implements river.JobArgs.
func (ReportArgs) Kind() string { return KindBuildReport }

// InsertOpts makes the job unique per report, on the reports queue.
func (ReportArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueReports, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
