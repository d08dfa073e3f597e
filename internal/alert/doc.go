// Package alert holds findash's price alerts: the Alert and Event types, the
// crossing rule (Step, with hysteresis) and the Evaluator, which runs in the
// worker role and evaluates every alert against the live event log — never
// by polling prices from the database.
//
// Data flow. Evaluator.Run reads the log (Log.Consume) from its own stored
// position, keeps per symbol the rolling 24 h statistics (market.Stats, fed
// exactly as market.State feeds them, restored from the store's candles on
// start) and, for each tick of a symbol that has alerts, computes the latest
// price and 24 h change and applies Step to every unpaused alert of that
// symbol. A firing becomes an Event keyed by (alert id, seq of the crossing
// tick).
//
// Exactly once. Firings and armed-state changes are written by
// Store.CommitAlerts in one transaction together with the log position of
// the message they came from; the store refuses a commit at or below its
// position and the (alert_id, seq) key is unique. A restarted evaluator
// resumes after the committed position with the committed armed states, so
// it recomputes nothing it already recorded; of two evaluators running at
// once, only the first to commit a position records its firings, and the
// other reloads the alerts' states from the store. Only a committed firing
// is pushed to the user's WebSocket (Sink) and handed to the Dispatcher
// (the job queue, whose jobs are unique per event and channel). Events are
// marked dispatched once their jobs are enqueued; events left undispatched
// by a crash are enqueued again at the next start, and by a running
// evaluator once a minute (an outbox).
//
// A database that went back. Every commit tells the store the position
// this evaluator last committed or read, and the store compares it with
// the stored one under the position's lock in the commit's transaction:
// below it, the database lost commits it had acknowledged (a failover to
// an asynchronous standby that had not received them, a restore), and the
// store refuses the commit (market.ErrBehind). Run then starts again from
// the stored position with the stored armed states, as a restart would
// (findash_alert_rewinds_total): the lost firings are found again, with
// the same (alert id, seq), and recorded once; the alerts they disarmed
// are disarmed again. Going on instead would leave them missing for good,
// and the alerts armed in the database, to fire a second time within
// their cooldown at the next reload. A refused final commit (on stop)
// leaves the stored position for the next start. The re-recorded events
// get new IDs and their notifications are enqueued again: their first
// jobs were in the lost commits (or ran before the failover — no one can
// tell), so e-mails and webhooks are at least once across such a
// failover. A firing this Run already pushed to Sink is not pushed again
// (the last pushedKept are remembered; a restarted process pushes again).
// The pass after a rewind evaluates each alert on the messages the lost
// pass evaluated it on, no earlier: Run remembers the first message it
// evaluated each alert on. An alert it had not evaluated — created after
// the stored position, on the promoted standby or on the old primary after
// its last replicated commit — starts after the last message the lost pass
// evaluated, with the catch-up of a new alert: it never fires on ticks the
// log held before it was loaded, which came before its creation.
//
// An alert's position. The API stores with each alert the log's newest
// stream sequence when it was created (Alert.CreatedSeq; the API and the
// evaluator may be different processes, the log is the clock they share).
// Every pass evaluates an alert only on messages after it, so neither a
// restart nor a rewind from a stored position older than the alert's
// creation (the position lags by up to FlushInterval, much more after an
// outage of the evaluator) shows it ticks from before it existed; the
// catch-up of a loaded alert takes the recent ticks of messages after it.
// An alert whose CreatedSeq is 0 (created before migration 00010) keeps
// the older rules: from the stored position after a restart, ticks
// stamped at or after its CreatedAt in a catch-up. An edit of an alert's
// definition stores the log's head at the edit as its CreatedSeq
// (decision 0079): the edited alert is placed again as a new one, by a
// running evaluator at its next reload as after a restart or a rewind.
//
// An alert's revision. Every edit of its definition also increments the
// alert's Revision, even when the log's head (so CreatedSeq) has not
// moved. Each firing and armed change carries the revision it was
// evaluated with, and CommitAlerts applies it only while the alert still
// has it (an armed change also only while the alert still has its
// CreatedSeq: an edit by the previous version, during a rolling update,
// moves only that), checked in the statement that writes it (an edit commits
// before that statement or after the whole commit): until the next
// reload the evaluator still evaluates the old definition, but once an
// edit is committed nothing it evaluated is recorded (decision 0081). Such a
// stale firing is counted (findash_alert_stale_firings_total), the rest
// of its commit applies, and the next message reloads the alerts, so the
// edited alert's catch-up evaluates the new definition on the messages
// after the edit.
//
// Alert definitions (created, deleted, paused through the API) are
// re-read when the store's alert version changes, checked at most every
// Config.RefreshInterval while messages flow; a new alert is evaluated from
// then on.
//
// Concurrency. Run owns one goroutine (its caller's, through Log.Consume);
// all evaluator state is confined to it. Sink.PublishAlert must not block.
// Back-pressure: a slow store slows consumption; the log keeps everything.
//
// Imports. alert imports only the domain (market) and the Prometheus client.
// It must not import a store, the bus, the job queue or the gateway: it
// reaches them through Log, Restorer, Store, Sink and Dispatcher, which
// cmd/findash wires.
package alert
