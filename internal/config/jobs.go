package config

import "github.com/spf13/pflag"

// jobFlags registers the job queues' worker counts: one user's reports must
// never hold the workers that send other users' alert e-mails (issue 13).
func jobFlags(fs *pflag.FlagSet) {
	fs.Int("jobs-alert-workers", 10, "alert e-mails and webhooks sent at once by a worker instance (their own job queue)")
	fs.Int("jobs-report-workers", 4, "reports built at once by a worker instance (their own job queue)")
}

// validateJobs checks jobFlags' values.
func (c *Config) validateJobs(bad func(name, format string, args ...any)) {
	if c.JobsAlertWorkers < 1 || c.JobsAlertWorkers > 1000 {
		bad("jobs_alert_workers", "must be between 1 and 1000")
	}
	if c.JobsReportWorkers < 1 || c.JobsReportWorkers > 1000 {
		bad("jobs_report_workers", "must be between 1 and 1000")
	}
}
