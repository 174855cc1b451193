// Package timeout bounds how long a call may take.
//
// A [Timeout] runs its function with a context whose deadline is
// Config.Duration away. It is cooperative: the function must honour its
// context, and the policy neither abandons it nor starts a goroutine. When the
// policy's own deadline has passed and the function returns an error, the
// result is an *[Error] matching both [ErrTimeout] and
// context.DeadlineExceeded, and wrapping the function's error. When the
// caller's context ended first (cancelled, or an earlier deadline of its own),
// the function's error comes back unchanged: the caller's deadline is not
// this policy's timeout.
package timeout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/telemetry"
)

// ErrTimeout is matched, with errors.Is, by every error a Timeout returns
// because its deadline passed. It also matches context.DeadlineExceeded, and
// is the cause (context.Cause) of the context the function runs with when
// that deadline passes.
var ErrTimeout error = sentinel{}

type sentinel struct{}

func (sentinel) Error() string        { return "palisade/timeout: deadline passed" }
func (sentinel) Is(target error) bool { return target == context.DeadlineExceeded }
func (sentinel) ErrorType() string    { return errorType }
func (sentinel) Timeout() bool        { return true }

const errorType = "timeout"

// Error is the error of a call whose deadline, set by a Timeout, passed.
type Error struct {
	// Policy is the name of the Timeout.
	Policy string
	// Duration is the Timeout's Config.Duration.
	Duration time.Duration
	// Err is the error the function returned.
	Err error
}

// Error describes the timeout and the function's error.
func (e *Error) Error() string {
	return fmt.Sprintf("palisade/timeout: %s: call exceeded %v: %v", e.Policy, e.Duration, e.Err)
}

// Unwrap returns the function's error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is ErrTimeout or context.DeadlineExceeded.
func (e *Error) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// ErrorType returns "timeout", the error.type of every timeout.
func (e *Error) ErrorType() string { return errorType }

// Timeout reports true, as net.Error does for timeouts.
func (e *Error) Timeout() bool { return true }

// Config configures a [Timeout].
type Config struct {
	// Name names the policy in telemetry and errors; default "timeout".
	Name string
	// Duration is the longest a call may take; required, > 0.
	Duration time.Duration
	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// Timeout is a policy that gives each call a deadline. It is safe for
// concurrent use.
type Timeout struct {
	name     string
	duration time.Duration
	report   *report.Timeout
}

// New returns a Timeout configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Timeout, error) {
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("palisade/timeout: Config.Duration must be > 0, got %v", cfg.Duration)
	}
	if cfg.Name == "" {
		cfg.Name = "timeout"
	}
	return &Timeout{
		name:     cfg.Name,
		duration: cfg.Duration,
		report:   report.NewTimeout(cfg.Telemetry, cfg.Name),
	}, nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Timeout {
	t, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return t
}

// Name returns the policy's name.
func (t *Timeout) Name() string { return t.name }

// Duration returns the deadline each call gets.
func (t *Timeout) Duration() time.Duration { return t.duration }

// Execute runs fn with a context whose deadline is the policy's Duration
// away. When the caller's deadline is no later, fn runs with ctx itself:
// that deadline is the caller's to report, and a timer of the policy's
// firing at the same instant must not race it into an ErrTimeout.
func (t *Timeout) Execute(ctx context.Context, fn policy.Func) error {
	deadline := time.Now().Add(t.duration)
	if parent, ok := ctx.Deadline(); ok && !parent.After(deadline) {
		return fn(ctx)
	}
	callCtx, cancel := context.WithDeadlineCause(ctx, deadline, ErrTimeout)
	defer cancel()
	err := fn(callCtx)
	if err == nil || ctx.Err() != nil {
		// Success, or the caller's own context ended: not ours to change.
		return err
	}
	if !errors.Is(context.Cause(callCtx), ErrTimeout) {
		return err
	}
	t.report.TimedOut(ctx)
	return &Error{Policy: t.name, Duration: t.duration, Err: err}
}

var _ policy.ModalPolicy = (*Timeout)(nil)

// AttemptMode returns policy.SequentialAttempts: the policy runs its
// function at most once at a time, and never after Execute returns.
func (*Timeout) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }
