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
//
// # Abandoning
//
// A function that ignores its context (a library call without one, a
// blocking system call) cannot be ended by a cooperative timeout. With
// Config.Abandon, the policy runs the function on a goroutine of its own
// and returns at the deadline whether or not it has returned — Polly's
// pessimistic timeout: the caller gets an *Error matching [ErrTimeout]
// with Abandoned set (or its own context's error, when its context ended
// first), and the function goes on until it returns, its context ended.
// Its outcome is then discarded. A call whose context has already ended
// returns that context's error without starting the function. The policies inside the timeout hold what
// they hold until the function really ends: an inner bulkhead keeps the
// abandoned call's slot, so abandoning never over-commits the dependency.
// The async gauge palisade.timeout.abandoned, like [Timeout.Abandoned],
// counts the abandoned functions still running: a number that grows says
// they never return.
//
// A function that panics before the deadline has its panic re-raised in
// the caller, as without Abandon. One that panics after it was abandoned
// cannot reach its caller, which has returned: the panic is re-raised on
// the function's goroutine and crashes the program, as any goroutine's
// unrecovered panic does, rather than being swallowed.
//
// Abandoning costs a goroutine and a channel per call; without it the
// policy starts no goroutine. An abandoning Timeout declares
// policy.ConcurrentAttempts, so a Pipeline gives each call its own state
// below it.
package timeout
