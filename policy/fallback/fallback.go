package fallback

import (
	"context"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// Fallback is a policy that replaces the outcome of failed calls. It is
// safe for concurrent use.
type Fallback struct {
	name     string
	handles  func(error) bool
	fallback func(context.Context, error) error
	report   *report.Fallback
}

var _ policy.ModalPolicy = (*Fallback)(nil)

// AttemptMode returns policy.SequentialAttempts: the function runs once,
// before Execute returns.
func (*Fallback) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }

// Name returns the policy's name.
func (f *Fallback) Name() string { return f.name }

// Execute runs fn. If fn fails with an error that Config.Handles accepts —
// by default, any error unless ctx was cancelled (the caller's own
// cancellation) — Execute returns what Config.Fallback returns for it;
// otherwise it returns fn's outcome unchanged. A panic in fn or in the
// fallback goes through.
func (f *Fallback) Execute(ctx context.Context, fn policy.Func) error {
	err := fn(ctx)
	if err == nil || !f.handled(ctx, err) {
		return err
	}
	f.report.Used(ctx, err)
	return f.fallback(ctx, err)
}

func (f *Fallback) handled(ctx context.Context, err error) bool {
	if f.handles != nil {
		return f.handles(err)
	}
	return DefaultHandles(ctx, err)
}

// DefaultHandles is what a Fallback without Config.Handles, and [Get],
// replace: every error of a call with ctx, unless the caller cancelled ctx.
func DefaultHandles(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != context.Canceled
}

// Get runs fn through p (directly when p is nil) as policy.Get does, and
// when the call fails with an error [DefaultHandles] accepts, returns what
// alt returns for that error instead: a cached or default value, or
// another error. Otherwise it returns the call's value and error. Get
// reports nothing of its own; a [Fallback] in p reports its replacements.
func Get[T any](ctx context.Context, p policy.Policy, fn func(context.Context) (T, error), alt func(ctx context.Context, err error) (T, error)) (T, error) {
	if alt == nil {
		panic("palisade/fallback: Get called with a nil alt")
	}
	var v T
	var err error
	if p == nil {
		v, err = fn(ctx)
	} else {
		v, err = policy.Get(ctx, p, fn)
	}
	if !DefaultHandles(ctx, err) {
		return v, err
	}
	return alt(ctx, err)
}
