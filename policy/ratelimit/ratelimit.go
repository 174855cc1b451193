package ratelimit

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// RateLimiter is a policy that limits how often calls may start: Rate per
// second, in bursts of at most Burst. It is safe for concurrent use and
// takes no lock.
type RateLimiter struct {
	// Read-only after New.
	name     string
	rate     float64
	burst    int
	interval int64 // ns between permits, 1/Rate rounded up
	span     int64 // Burst × interval: how far ahead of now tat may run
	maxWait  int64 // ns
	epoch    time.Time
	rejected *report.Counter

	_ [64]byte // keep the contended word off the read-only fields' cache line

	// tat is the theoretical arrival time, in ns of the limiter's clock:
	// the instant at which every permit granted (or reserved by a waiter)
	// so far would have been paid for at Rate. It only moves forward,
	// except when a waiter gives back the last reservation.
	tat atomic.Int64

	_ [56]byte
}

// Name returns the policy's name.
func (l *RateLimiter) Name() string { return l.name }

// Rate returns the permits granted per second.
func (l *RateLimiter) Rate() float64 { return l.rate }

// Burst returns how many permits may be granted at once.
func (l *RateLimiter) Burst() int { return l.burst }

// now reads the limiter's clock: nanoseconds since New, from the monotonic
// clock only (a wall-clock step cannot grant or withhold permits).
func (l *RateLimiter) now() int64 {
	return max(int64(time.Since(l.epoch)), 0)
}

// Available returns how many permits the limiter would grant at once now.
func (l *RateLimiter) Available() int {
	now := l.now()
	free := now + l.span - max(l.tat.Load(), now)
	return int(max(free/l.interval, 0))
}

// Allow takes a permit if one is free now, and reports whether it did. It
// never waits. A refusal is counted in palisade.rejected_calls (without a
// span event: Allow has no context).
func (l *RateLimiter) Allow() bool {
	now := l.now()
	for {
		old := l.tat.Load()
		tat := max(old, now) + l.interval
		if tat-now > l.span {
			l.rejected.Inc(context.Background())
			return false
		}
		if l.tat.CompareAndSwap(old, tat) {
			return true
		}
	}
}

// Execute runs fn once it has a permit: at once if one is free, else by
// waiting for the next one when it is at most MaxWait away and comes
// before ctx's deadline. fn's error comes back unchanged. Without a permit
// fn does not run, and Execute returns an error matching ErrLimited (the
// limiter refused the call) or, when ctx ended while the call waited, one
// matching ctx.Err() and policy.ErrRejected.
func (l *RateLimiter) Execute(ctx context.Context, fn policy.Func) error {
	if err := l.take(ctx, l.maxWait); err != nil {
		return err
	}
	return fn(ctx)
}

// Wait blocks until the caller holds a permit, for work that cannot be
// wrapped in a function, as golang.org/x/time/rate's Wait does: however
// long the wait, whatever MaxWait says (which bounds Execute), but never
// past ctx's deadline — a call whose permit would come after it is refused
// at once with an error matching ErrLimited, reserving nothing. When ctx
// ends while the call waits, Wait returns an error matching ctx.Err() and
// policy.ErrRejected. A permit is used by starting: there is nothing to
// give back.
func (l *RateLimiter) Wait(ctx context.Context) error {
	return l.take(ctx, math.MaxInt64)
}

// take takes a permit, waiting at most maxWait ns for it.
func (l *RateLimiter) take(ctx context.Context, maxWait int64) error {
	now := l.now()
	old := l.tat.Load()
	tat := max(old, now) + l.interval
	if tat-now <= l.span && l.tat.CompareAndSwap(old, tat) {
		return nil
	}
	return l.waitSlow(ctx, now, maxWait)
}

// waitSlow is take after its first attempt found no permit, or lost a race
// for it.
func (l *RateLimiter) waitSlow(ctx context.Context, now, maxWait int64) error {
	limit := maxWait // the longest wait the call accepts, in ns
	if limit > 0 {
		if deadline, ok := ctx.Deadline(); ok {
			// The slot must come strictly before the deadline: at the
			// deadline the context has ended. Sub uses the monotonic
			// readings of both times when the deadline has one.
			limit = min(limit, int64(deadline.Sub(l.epoch))-now-1)
		}
	}
	for {
		old := l.tat.Load()
		tat := max(old, now) + l.interval
		wait := tat - l.span - now // until the slot of this permit
		if wait <= 0 {
			if l.tat.CompareAndSwap(old, tat) {
				return nil
			}
			continue
		}
		if wait > limit {
			l.rejected.Inc(ctx)
			return &Error{Policy: l.name, Delay: time.Duration(wait)}
		}
		if err := ctx.Err(); err != nil {
			return &Error{Policy: l.name, Err: err} // not queued: nothing reserved
		}
		if l.tat.CompareAndSwap(old, tat) {
			return l.sleep(ctx, now, tat, wait)
		}
	}
}

// sleep waits for the slot reserved by moving tat to reserved, wait ns
// after now.
func (l *RateLimiter) sleep(ctx context.Context, now, reserved, wait int64) error {
	t := time.NewTimer(time.Duration(wait))
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		t.Stop()
	}
	// Give the reservation back if nobody has reserved behind it: the
	// state is then the one the limiter would have had without it. Else
	// the slot is lost: moving tat back would hand out later callers'
	// slots twice.
	l.tat.CompareAndSwap(reserved, reserved-l.interval)
	return &Error{Policy: l.name, Delay: time.Duration(l.now() - now), Err: ctx.Err()}
}

var _ policy.ModalPolicy = (*RateLimiter)(nil)

// AttemptMode returns policy.SequentialAttempts: the policy runs its
// function at most once, and never after Execute returns.
func (*RateLimiter) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }
