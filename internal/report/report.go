package report

import (
	"errors"
	"time"

	"github.com/findash/findash/internal/market"
)

// Status is where a report is in its life: queued → running → done | failed.
type Status string

// Report statuses.
const (
	Queued  Status = "queued"
	Running Status = "running"
	Done    Status = "done"
	Failed  Status = "failed"
)

// Format is a report's file format.
type Format string

// Report formats.
const (
	CSV Format = "csv"
	PDF Format = "pdf"
)

// Limits on a report request.
const (
	MaxSymbols = 20
)

// ErrTooMany means the user already has the most reports queued or running
// that Config.MaxQueued allows: a new one is refused (the API answers 429
// too_many_reports) until one of them is done.
var ErrTooMany = errors.New("too many reports queued or running")

// Report is a user's request for a file of candles, and its outcome.
type Report struct {
	ID        int64
	UserID    int64
	Symbols   []string
	Interval  market.Interval
	From, To  int64 // ms since epoch, UTC, inclusive bucket starts
	Format    Format
	Status    Status
	Error     string // why it failed, for the user
	ObjectKey string // where the file is in object storage, once done
	Size      int64  // bytes, once done
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate checks a to-be-created report's Symbols, Interval, From, To and
// Format. A failure is a *market.ValidationError naming the field.
func Validate(r *Report) error {
	if len(r.Symbols) == 0 || len(r.Symbols) > MaxSymbols {
		return market.Invalid("symbols", "must list 1 to %d symbols", MaxSymbols)
	}
	seen := make(map[string]bool, len(r.Symbols))
	for _, s := range r.Symbols {
		if err := market.CheckSymbol("symbols", s); err != nil {
			return err
		}
		if seen[s] {
			return market.Invalid("symbols", "%s is listed twice", s)
		}
		seen[s] = true
	}
	if r.Interval >= market.Interval(market.NumIntervals) {
		return market.Invalid("interval", "is not an interval")
	}
	if r.From < market.MinTS || r.To > market.MaxTS || r.From > r.To {
		return market.Invalid("from", "from and to must be Unix ms between 2000 and 2100 with from <= to")
	}
	if r.Format != CSV && r.Format != PDF {
		return market.Invalid("format", "must be csv or pdf")
	}
	return nil
}

// ContentType is the MIME type of a report file.
func (f Format) ContentType() string {
	if f == PDF {
		return "application/pdf"
	}
	return "text/csv; charset=utf-8"
}
