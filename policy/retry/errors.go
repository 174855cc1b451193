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
// returns because its budget (Config.Budget) denied a retry. It matches
// policy.ErrRejected.
var ErrBudgetExhausted error = budgetSentinel{}

type budgetSentinel struct{}

func (budgetSentinel) Error() string        { return "palisade/retry: retry budget exhausted" }
func (budgetSentinel) Is(target error) bool { return target == policy.ErrRejected }
func (budgetSentinel) ErrorType() string    { return budgetExhaustedType }

// Error is the error of a call that a Retry gave up on: it ran out of
// attempts, or its budget denied a retry (BudgetExhausted). It wraps the
// last attempt's error, so errors.Is and policy.RetryAfter see that error
// too, and matches, as well:
//
//   - [ErrExhausted], when the call ran out of attempts (error.type
//     "retry_exhausted");
//   - [ErrBudgetExhausted] and policy.ErrRejected, when the budget denied a
//     retry (error.type "retry_budget_exhausted").
type Error struct {
	// Policy is the name of the Retry.
	Policy string
	// Attempts is the number of attempts the call made, the first included.
	Attempts int
	// Err is the error of the last attempt.
	Err error
	// BudgetExhausted is true when the budget denied the next attempt,
	// false when the call ran out of attempts.
	BudgetExhausted bool
}

// Error describes why the call ended and the last attempt's error.
func (e *Error) Error() string {
	if e.BudgetExhausted {
		return fmt.Sprintf("palisade/retry: %s: retry budget exhausted after %d attempts: %v", e.Policy, e.Attempts, e.Err)
	}
	return fmt.Sprintf("palisade/retry: %s: gave up after %d attempts: %v", e.Policy, e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is ErrExhausted (out of attempts), or
// ErrBudgetExhausted or policy.ErrRejected (budget denied).
func (e *Error) Is(target error) bool {
	if e.BudgetExhausted {
		return target == ErrBudgetExhausted || target == policy.ErrRejected
	}
	return target == ErrExhausted
}

// ErrorType returns "retry_budget_exhausted" when the budget denied a
// retry, else "retry_exhausted".
func (e *Error) ErrorType() string {
	if e.BudgetExhausted {
		return budgetExhaustedType
	}
	return exhaustedType
}
