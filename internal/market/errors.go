package market

import (
	"errors"
	"fmt"
)

// Sentinel error kinds. Adapters translate driver errors into these at their
// boundary so that delivery code (HTTP, WebSocket) maps each kind in one place.
var (
	// ErrNotFound means the thing asked for does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the input broke a rule; wrap it in a *ValidationError to say which.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict means the request clashes with existing state.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means a dependency needed to serve the request is down; retry later.
	ErrUnavailable = errors.New("unavailable")
	// ErrBehind means stored state is older than what the caller had seen
	// stored before: the database lost commits it had acknowledged (a
	// failover to a standby that had not received them, a restore from a
	// backup). The caller goes back to what is stored and writes again.
	ErrBehind = errors.New("stored state behind what was written")
)

// ValidationError says which field of an input broke which rule. It matches
// ErrInvalid with errors.Is.
type ValidationError struct {
	Field   string // the offending field, e.g. "price"
	Message string // human text, e.g. "must be > 0 and finite"
	// Reason is a stable snake_case code for machines and metric labels
	// (one of Reasons for ticks), or empty.
	Reason string
}

// Error implements error.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// Is makes errors.Is(err, ErrInvalid) true for validation errors.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns a *ValidationError for field with a formatted message.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Reject returns a *ValidationError for field with a Reason code and a
// formatted message.
func Reject(field, reason, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)}
}
