// Package ratelimit limits how often calls may start.
//
// A [RateLimiter] grants Rate permits per second, with bursts of up to Burst
// permits at once; a call without a permit is refused at once, or, with
// MaxWait set, waits for the next one at most that long.
//
// # Algorithm
//
// The limiter is the generic cell rate algorithm (GCRA), the token bucket
// restated as one number: the "theoretical arrival time" (TAT) at which the
// bucket would be full again. Each permit moves TAT one emission interval
// T = 1/Rate later; a permit is granted at time now when the new TAT is at
// most Burst intervals ahead of now:
//
//	tat := max(TAT, now) + T
//	grant if tat - now <= Burst*T, then TAT = tat
//
// With Burst 1 calls are spaced at least T apart (smooth limiting); with a
// larger Burst up to Burst calls pass at once after a quiet spell, and the
// long-run rate stays Rate. T is rounded up to a whole nanosecond, so the
// limiter never grants more than Rate (a Rate above 1e9 acts as 1e9).
//
// TAT is one int64 updated by compare-and-swap: there is no lock, and the
// clock is read once per decision, from the monotonic clock. Because TAT
// only ever moves forward, a caller whose clock reading is stale (it was
// descheduled between the reading and its compare-and-swap) gets a
// decision at least as strict as a fresh reading would give, never a
// second use of the same capacity. Hence the guarantee, however many
// goroutines contend: the permits granted in any interval of length d never
// exceed Burst + Rate×d. (golang.org/x/time/rate, whose clock may step
// back under lock contention, has been measured letting thousands of times
// its limit through: golang/go#71360.)
//
// # Waiting
//
// With MaxWait > 0 a call to Execute that finds no permit reserves the next
// one (Wait does the same, bounded only by its context's deadline): it
// moves TAT on at once, which takes the first free slot after the slots of
// the callers already waiting (so waiters are served first come, first
// served, and a newcomer cannot overtake them), and sleeps until its slot.
// A call is not queued when its slot is further than MaxWait away, nor when
// its context's deadline comes before the slot: it is refused at once with
// [ErrLimited], without reserving anything.
//
// A waiter whose context ends before its slot gives the reservation back
// when it is the last one (TAT still ends at its slot): the slot is free
// again for the next caller. When later callers have reserved slots behind
// it, the slot cannot be handed back without moving theirs, and it is lost:
// the limiter then grants one permit fewer than it could, never one more.
// Cancellations of deadline-bound calls cost nothing (they are never
// queued past their deadline), so only waiters cancelled outright, while
// others queue behind them, waste capacity.
//
// # Errors
//
// A refusal is an *[Error] matching [ErrLimited] and [policy.ErrRejected];
// its RetryAfter is the time until the next permit (assuming nobody else
// takes it), which a retry outside the limiter waits for. A waiter whose
// context ended gets an *Error matching the context's error and
// policy.ErrRejected but not ErrLimited, and is not counted as a rejection:
// the caller gave up.
package ratelimit
