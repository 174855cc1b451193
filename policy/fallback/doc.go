// Package fallback replaces the outcome of a call that failed in chosen
// ways: a cached answer, a default, a degraded mode, or a better error.
//
// A [Fallback] runs its function; when the function fails with an error
// Config.Handles accepts, it returns what Config.Fallback returns for that
// error instead — nil for a success, or a replacement error. Errors it does
// not handle, and successes, come back unchanged. By default every error is
// handled but the caller's own cancellation: a caller that gave up wants no
// replacement. The caller's deadline passing is handled: a cached answer
// served when the dependency is too slow is the classic fallback.
//
// Inside a pipeline the fallback is usually outermost, so that it replaces
// whatever the policies inside it end with — an open breaker's rejection,
// a timeout, retries exhausted:
//
//	p := policy.NewPipeline("users", fb, retry, breaker, timeout)
//
// For values, [Get] runs a function through a policy and calls an
// alternative for the value when the call failed.
//
// # Telemetry
//
// Each replacement adds 1 to the counter palisade.fallback.uses, whose
// error.type is that of the replaced error, and the event
// palisade.fallback to the span in the caller's context. Error types are
// not known in advance: a series is created when one is first replaced,
// and the attribute sets are cached (a bounded number of them), so that a
// replacement does not rebuild them.
package fallback
