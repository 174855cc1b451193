// Package budget caps the extra attempts that resilience policies add to a
// dependency's load: the retries of package retry and the hedges of package
// hedge. Retries and hedges help when a few calls fail or are slow; when a
// dependency is down or overloaded they multiply its load by the number of
// attempts, and keep it down. A [Budget] bounds them to a share of the calls,
// as gRPC's retry throttling and the retry budgets of Finagle and Envoy do.
//
// # Algorithm
//
// An extra attempt is allowed while the extra attempts in the window, this
// one included, stay within
//
//	MinExtra + Ratio × calls
//
// where calls counts the Execute calls of every policy using the budget. With
// Ratio 0.1, extra attempts add at most 10% to the load, whatever happens
// downstream; MinExtra lets a service with little traffic still retry.
//
// The window slides in steps of a tenth of Window: it is kept as a fixed ring
// of ten buckets of (calls, extra) counts, so counting a call or an extra
// attempt costs O(1) — one clock read and one short critical section —
// whatever the traffic, and the memory of a budget is constant. A Budget is
// safe for concurrent use, and is meant to be shared by the policies calling
// one dependency.
//
// A policy refused by the budget ends its call with an error of its own
// matching policy.ErrRejected (retry.ErrBudgetExhausted for a retry); a
// hedge that the budget refuses is simply not started, and attempts already
// running are never stopped by it.
package budget
