package retry

import (
	"fmt"

	"github.com/palisade-go/palisade/policy"
)

// error.type values of the errors a Retry creates.
const (
	exhaustedType       = "retry_exhausted"
	budgetExhaustedType = "retry_budget_exhausted"
)

// ErrExhausted is matched, with errors.Is, by every error a Retry returns
// because a call ran out of attempts: its MaxAttempts were used, its
// backoff returned backoff.Stop, or its next attempt could not start within
// its MaxDuration. It is never a rejection: it does not match
// policy.ErrRejected unless the last attempt's error does.
var ErrExhausted error = exhaustedSentinel{}

type exhaustedSentinel struct{}

func (exhaustedSentinel) Error() string     { return "palisade/retry: attempts exhausted" }
func (exhaustedSentinel) ErrorType() string { return exhaustedType }

// ErrBudgetExhausted is matched, with errors.Is, by every error a Retry
// returns because its [Budget] denied a retry. It matches
// policy.ErrRejected.
var ErrBudgetExhausted error = budgetSentinel{}

type budgetSentinel struct{}

func (budgetSentinel) Error() string        { return "palisade/retry: retry budget exhausted" }
func (budgetSentinel) Is(target error) bool { return target == policy.ErrRejected }
func (budgetSentinel) ErrorType() string    { return budgetExhaustedType }

// ExhaustedError is the error of a call that ran out of attempts. It
// matches [ErrExhausted] and, through Unwrap, the last attempt's error (so
// policy.RetryAfter finds that error's hint, if any).
type ExhaustedError struct {
	// Attempts is the number of attempts the call made, the first included.
	Attempts int
	// Err is the error of the last attempt.
	Err error
}

// Error describes the exhaustion and the last attempt's error.
func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("palisade/retry: gave up after %d attempts: %v", e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *ExhaustedError) Unwrap() error { return e.Err }

// Is reports whether target is ErrExhausted.
func (e *ExhaustedError) Is(target error) bool { return target == ErrExhausted }

// ErrorType returns "retry_exhausted", the error.type of every exhaustion.
func (e *ExhaustedError) ErrorType() string { return exhaustedType }

// BudgetExhaustedError is the error of a call whose retry its [Budget]
// denied. It matches [ErrBudgetExhausted], policy.ErrRejected and, through
// Unwrap, the last attempt's error.
type BudgetExhaustedError struct {
	// Attempts is the number of attempts the call made, the first included.
	Attempts int
	// Err is the error of the last attempt.
	Err error
}

// Error describes the denial and the last attempt's error.
func (e *BudgetExhaustedError) Error() string {
	return fmt.Sprintf("palisade/retry: retry budget exhausted after %d attempts: %v", e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *BudgetExhaustedError) Unwrap() error { return e.Err }

// Is reports whether target is ErrBudgetExhausted or policy.ErrRejected.
func (e *BudgetExhaustedError) Is(target error) bool {
	return target == ErrBudgetExhausted || target == policy.ErrRejected
}

// ErrorType returns "retry_budget_exhausted", the error.type of every
// budget denial.
func (e *BudgetExhaustedError) ErrorType() string { return budgetExhaustedType }
