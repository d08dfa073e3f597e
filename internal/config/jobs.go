package config

import "github.com/spf13/pflag"

// jobFlags registers the job queues' worker counts and the per-user report
// caps: one user's reports must never hold the workers that send other
// users' alert e-mails, nor every report worker (issue 13).
func jobFlags(fs *pflag.FlagSet) {
	fs.Int("jobs-alert-workers", 10, "alert e-mails and webhooks sent at once by a worker instance (their own job queue)")
	fs.Int("jobs-report-workers", 4, "reports built at once by a worker instance (their own job queue)")
	fs.Int("reports-max-queued", 20, "reports one user may have queued or running; more are refused with 429 too_many_reports")
	fs.Int("reports-max-running", 2, "reports of one user built at once; the user's others wait for a turn")
}

// validateJobs checks jobFlags' values.
func (c *Config) validateJobs(bad func(name, format string, args ...any)) {
	if c.JobsAlertWorkers < 1 || c.JobsAlertWorkers > 1000 {
		bad("jobs_alert_workers", "must be between 1 and 1000")
	}
	if c.JobsReportWorkers < 1 || c.JobsReportWorkers > 1000 {
		bad("jobs_report_workers", "must be between 1 and 1000")
	}
	if c.ReportsMaxQueued < 1 || c.ReportsMaxQueued > 10_000 {
		bad("reports_max_queued", "must be between 1 and 10000")
	}
	if c.ReportsMaxRunning < 1 || c.ReportsMaxRunning > c.ReportsMaxQueued {
		bad("reports_max_running", "must be between 1 and reports_max_queued")
	}
}
