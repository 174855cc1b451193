package hedge

import "context"

type ctxKey int

const (
	disabledKey ctxKey = iota
	attemptKey
)

// Disable returns a copy of ctx with which a Hedge runs a call as a single
// attempt: no hedge, no goroutine, no timer. A transport calls it for a
// request that must not be sent twice (a POST without an idempotency key,
// a body that cannot be replayed), so that one Hedge can serve every
// request of a client.
func Disable(ctx context.Context) context.Context {
	return context.WithValue(ctx, disabledKey, true)
}

// Allowed reports whether a call with ctx may be hedged: false once
// [Disable] marked ctx or a context it derives from.
func Allowed(ctx context.Context) bool {
	return ctx.Value(disabledKey) == nil
}

// Attempt returns, inside a function run by a Hedge, which attempt of the
// call this is: 1 for the first, 2 for the first hedge, and so on. It is 1
// outside any Hedge. Inside nested hedges it is the innermost one's.
func Attempt(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey).(int); ok {
		return n
	}
	return 1
}
