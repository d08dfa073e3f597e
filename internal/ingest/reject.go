package ingest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// LineError says which tick of a batch was bad and why. Line is 1-based: the
// NDJSON line, or the array element's index + 1; 0 means the body as a whole
// (an empty batch). It matches market.ErrInvalid with errors.Is.
type LineError struct {
	Line int
	Err  error
}

// Error implements error: "line 3: price: -1 is below the minimum price 1e-12".
func (e *LineError) Error() string {
	if e.Line <= 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap returns the cause (usually a *market.ValidationError).
func (e *LineError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, market.ErrInvalid) true.
func (e *LineError) Is(target error) bool { return target == market.ErrInvalid }

// Field is the tick field the error is about ("price"), or "json" for a
// line that is not a well-formed tick object.
func (e *LineError) Field() string {
	var ve *market.ValidationError
	if errors.As(e.Err, &ve) && ve.Field != "" {
		return ve.Field
	}
	return "json"
}

// Reason is the stable code of the error: one of market.Reasons.
func (e *LineError) Reason() string {
	var ve *market.ValidationError
	if errors.As(e.Err, &ve) && ve.Reason != "" {
		return ve.Reason
	}
	return market.ReasonSyntax
}

// Message is the error's text without the line and the field.
func (e *LineError) Message() string {
	var ve *market.ValidationError
	if errors.As(e.Err, &ve) {
		return ve.Message
	}
	return e.Err.Error()
}

// BatchError rejects a whole batch: every bad line found, in order, at
// most MaxLineErrors (Truncated: the scan stopped there). It matches
// market.ErrInvalid, and errors.As finds its first *LineError.
type BatchError struct {
	Lines     []*LineError
	Truncated bool
}

// Error implements error: the first bad line, and how many there are.
func (e *BatchError) Error() string {
	if len(e.Lines) == 0 {
		return "invalid batch"
	}
	var sb strings.Builder
	sb.WriteString(e.Lines[0].Error())
	if n := len(e.Lines); n > 1 || e.Truncated {
		more := "more"
		if e.Truncated {
			more = "more; the scan stopped there"
		}
		fmt.Fprintf(&sb, " (and %d %s)", n-1, more)
	}
	return sb.String()
}

// Unwrap returns the line errors.
func (e *BatchError) Unwrap() []error {
	out := make([]error, len(e.Lines))
	for i, l := range e.Lines {
		out[i] = l
	}
	return out
}

// Is makes errors.Is(err, market.ErrInvalid) true.
func (e *BatchError) Is(target error) bool { return target == market.ErrInvalid }

// ParserConfig tunes a Parser.
type ParserConfig struct {
	// Limits bound the values and the timestamps of ticks (zero fields:
	// market.DefaultLimits).
	Limits market.Limits
	// Now is the clock the timestamp window is judged by (default time.Now).
	Now func() time.Time
}

// Parser is Parse with configured limits, the server clock and a metric of
// what it rejects. It is safe for concurrent use.
type Parser struct {
	lim      market.Limits
	now      func() time.Time
	rejected *prometheus.CounterVec
}

// NewParser returns a Parser. Its metric, findash_ingest_rejected_ticks_total
// by reason, is registered on reg when reg is not nil.
func NewParser(cfg ParserConfig, reg prometheus.Registerer) *Parser {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Parser{
		lim: cfg.Limits.WithDefaults(), now: cfg.Now,
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_ingest_rejected_ticks_total",
			Help: "Bad ticks (lines) in ingest batches, by reason; a batch with any is rejected whole.",
		}, []string{"reason"}),
	}
	for _, r := range market.Reasons {
		p.rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(p.rejected)
	}
	return p
}

// Parse parses body with the configured limits at the current time (see
// the package function Parse) and counts the bad lines by reason.
func (p *Parser) Parse(body []byte) ([]market.Tick, error) {
	ticks, err := Parse(body, p.lim, p.now())
	var be *BatchError
	if errors.As(err, &be) {
		for _, l := range be.Lines {
			p.rejected.WithLabelValues(l.Reason()).Inc()
		}
	}
	return ticks, err
}
