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
