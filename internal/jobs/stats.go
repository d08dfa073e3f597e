package jobs

import (
	"context"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// counter counts jobs in the database; River's driver executor implements
// it (driverCounter).
type counter interface {
	byState(ctx context.Context) (map[rivertype.JobState]int, error)
	byQueue(ctx context.Context, queues []string) (map[string][2]int, error) // queue → available, running
}

// driverCounter counts with the driver's own aggregate queries (the ones
// River's UI uses), one query each, instead of listing jobs.
type driverCounter struct{ e riverdriver.Executor }

func (c driverCounter) byState(ctx context.Context) (map[rivertype.JobState]int, error) {
	return c.e.JobCountByAllStates(ctx, &riverdriver.JobCountByAllStatesParams{})
}

func (c driverCounter) byQueue(ctx context.Context, queues []string) (map[string][2]int, error) {
	rows, err := c.e.JobCountByQueueAndState(ctx, &riverdriver.JobCountByQueueAndStateParams{QueueNames: queues})
	if err != nil {
		return nil, err
	}
	out := make(map[string][2]int, len(rows))
	for _, r := range rows {
		out[r.Queue] = [2]int{int(r.CountAvailable), int(r.CountRunning)}
	}
	return out, nil
}

// sample refreshes findash_jobs{state}, findash_jobs_queue_depth{queue} and
// findash_jobs_queue_running{queue}.
func (q *Queue) sample(ctx context.Context) {
	states, err := q.counts.byState(ctx)
	if err == nil {
		var byQueue map[string][2]int
		if byQueue, err = q.counts.byQueue(ctx, queues); err == nil {
			for _, s := range rivertype.JobStates() {
				q.states.WithLabelValues(string(s)).Set(float64(states[s]))
			}
			for _, name := range queues {
				c := byQueue[name]
				q.depth.WithLabelValues(name).Set(float64(c[0]))
				q.running.WithLabelValues(name).Set(float64(c[1]))
			}
			return
		}
	}
	if ctx.Err() == nil {
		q.l.Warn("cannot sample the job queues", "err", err)
	}
}
